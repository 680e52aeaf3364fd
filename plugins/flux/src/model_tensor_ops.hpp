// The FLUX plugin's tensor operations (model.h, GENPLUG_EXT_MODEL_TENSOR_OPS): a scheduler's arithmetic done
// by libtorch where the latent lives, so a CUDA latent is never copied to the host during sampling.
#pragma once
#include <genplug/genplug.h>

namespace genplug::flux {

// The table; static, valid for the life of the library.
const genplug_model_tensor_ops_t& torch_tensor_ops();

}  // namespace genplug::flux
