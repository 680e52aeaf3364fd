// org.genplug.flux: the genplug.model/1 plugin around the FLUX transformer, VAE and text conditioning.
#pragma once
#include <memory>
#include <string>

#include <genplug/plugin.hpp>

namespace genplug::flux {

std::unique_ptr<Model> make_flux_model(const std::string& config_json, Context& ctx);

}  // namespace genplug::flux
