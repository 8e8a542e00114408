// The Error type and fail() live in kernels/error.h, the lowest layer (kernels include no model
// header). This forwarder keeps model-level code that names the old path compiling.
#pragma once
#include "kernels/error.h"
