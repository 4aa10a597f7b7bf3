// The envelope every Poly REST list shares (DMA and RPRM, as devsim emulates
// them): {"<list>": {"<item>": [ ... ]}, "next": ...}. One parser for it, so
// the dma and rprm mappings only map items.
#pragma once

#include <boost/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace parley::agent {

struct DeviceItemList {
  // The parsed document's storage, released with the list: a page is mapped
  // to records and dropped, so its thousands of strings and objects need no
  // malloc and free each (declared first: it outlives `root`).
  boost::json::monotonic_resource arena;
  // Both on the arena: a document parsed into the arena and moved into a
  // value of other storage would be copied item by item to the heap.
  // (Not brace-initialized: braces pick the initializer-list constructor.)
  boost::json::value root = boost::json::value(boost::json::storage_ptr(&arena));  // the parsed document
  boost::json::array single = boost::json::array(boost::json::storage_ptr(&arena));  // a lone item sent as an object
  const boost::json::array* items = nullptr;  // into root or single
  std::optional<std::string> next;      // the paging token, when the list has one
};

// Parses `text` and finds root[list_key][item_key]. An item list holding one
// object instead of an array is accepted (XML heritage); a missing or null
// list is empty. With `paged`, a top-level "next" must be a string or null.
Result<std::unique_ptr<DeviceItemList>> ParseDeviceItemList(std::string_view text, std::string_view list_key,
                                                            std::string_view item_key, bool paged);

}  // namespace parley::agent
