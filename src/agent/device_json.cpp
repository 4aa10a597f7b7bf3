#include "agent/device_json.h"

namespace parley::agent {

namespace json = boost::json;

Result<std::unique_ptr<DeviceItemList>> ParseDeviceItemList(std::string_view text, std::string_view list_key,
                                                            std::string_view item_key, bool paged) {
  auto out = std::make_unique<DeviceItemList>();
  json::error_code ec;
  out->root = json::parse(json::string_view(text.data(), text.size()), ec, &out->arena);
  if (ec) return InvalidArgument("device answer is not JSON (" + ec.message() + ")");
  const json::object* obj = out->root.if_object();
  const json::value* list = obj ? obj->if_contains(list_key) : nullptr;
  if (!list || !list->is_object())
    return InvalidArgument("device answer has no " + std::string(list_key) + " object");
  const json::value* items = list->get_object().if_contains(item_key);
  if (!items || items->is_null()) {
    out->items = &out->single;
  } else if (items->is_array()) {
    out->items = &items->get_array();
  } else if (items->is_object()) {
    out->single.push_back(*items);
    out->items = &out->single;
  } else {
    return InvalidArgument("device answer: " + std::string(item_key) + " is neither an array nor an object");
  }
  if (paged) {
    const json::value* next = obj->if_contains("next");
    if (next && next->is_string()) {
      out->next = std::string(next->get_string().data(), next->get_string().size());
    } else if (next && !next->is_null()) {
      return InvalidArgument("device answer: \"next\" is neither a string nor null");
    }
  }
  return out;
}

}  // namespace parley::agent
