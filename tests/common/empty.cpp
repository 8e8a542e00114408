// Keeps dsv32testutil non-empty when tests/common has no helpers yet.
