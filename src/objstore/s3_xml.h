// The little XML S3 answers with (ListBucketResult, Error), read without a
// parser: the texts of elements with a given name. The input is a response
// body already bounded in size; malformed input yields fewer elements or a
// Corruption, never a read past its end.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgthaw::objstore {

// TEXT with XML's five named entities and numeric character references
// decoded; Corruption for an unknown or malformed one.
Result<std::string> xml_unescape(std::string_view text);

// The decoded texts of every <TAG>...</TAG> element (no attributes) in XML,
// in document order.
Result<std::vector<std::string>> xml_element_texts(std::string_view xml, std::string_view tag);

// The decoded text of the first <TAG> element; nullopt if there is none or
// it is malformed.
std::optional<std::string> xml_first_element_text(std::string_view xml, std::string_view tag);

}  // namespace pgthaw::objstore
