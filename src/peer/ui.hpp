// The web page (src/peer/ui: plain HTML, CSS and JavaScript, no build step), built into the
// binary (src/peer/embed.py writes these definitions at build time).
#pragma once

#include <string_view>

namespace p2p {

std::string_view ui_index_html();
std::string_view ui_app_js();
std::string_view ui_app_css();

}  // namespace p2p
