// Containment for libhdf5 on untrusted files. Debian's libhdf5 1.10.8 has memory-safety bugs that a
// few changed bytes of a file reach (heap overflows in H5HG_read via variable-length strings,
// SEGVs in H5O__msg_iterate_real, endless loops and terabyte allocations in H5C_protect); no check
// of ours can run before libhdf5 parses the file, so the first read of a user-supplied .h5 file
// happens in a forked child:
//
//   h5::contain(path, "dump", [&] { DumpReader r(path); for (auto& n : r.tensors()) r.read(n); });
//
// The child runs `walk` (the same reads the caller is about to do) under alarm() and an
// address-space rlimit. If it read the whole file, contain() returns and the caller reads it for
// real: libhdf5 is deterministic, and what succeeded under the limits succeeds without them. If
// the walk raised a dsv32::Error, contain() raises the same message (the caller does not read
// the file: under no limits, a corrupt size that failed to allocate in the child might succeed
// and page the machine). If the child died by a signal or ran out of time or memory, contain()
// throws one dsv32::Error naming the file. Inside the child, nested contain() calls return.
//
// DSV32_H5_CONTAIN=0 turns the containment off (the fuzz targets do: under ASan a project bug
// must crash in-process to be found). Cost: the file is read twice (once in the child). Limits: DSV32_H5_CHECK_SECONDS (default 120 s +
// 1 s per 20 MB of file), memory = max(4 GiB, 8x the file size), at most the machine's RAM, on top of
// what the process has mapped. A heap
// overflow that does not crash the child cannot be seen from outside; the readers keep libhdf5
// off its global heap where they can (files dsv32 alone writes carry fixed-length strings, and
// their readers refuse variable-length ones).
#pragma once
#include <functional>
#include <string>

namespace dsv32::h5 {

// Throws Error "<path>: <what>: ..." if `walk` kills, hangs or exhausts the checking child.
void contain(const std::string& path, const std::string& what, const std::function<void()>& walk);

// True inside the checking child (readers skip their own contain() there).
bool in_containment_child();

}  // namespace dsv32::h5
