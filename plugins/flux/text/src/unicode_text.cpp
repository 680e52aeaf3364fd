#include <genplug/flux/text/unicode_text.hpp>

#include <stdexcept>
#include <vector>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/uset.h>

namespace genplug::flux::text {
namespace {


bool python_assigned(char32_t c) { return assigned_in(c, kPythonUnicodeVersion); }

std::u16string to_utf16(std::u32string_view text) {
  std::u16string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c >= 0x10000) {
      out.push_back(static_cast<char16_t>(0xD7C0 + (c >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 | (c & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(c));
    }
  }
  return out;
}

std::u32string from_utf16(const char16_t* s, std::size_t n) {
  std::u32string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    char32_t c = s[i];
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < n && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF)
      c = 0x10000 + ((c - 0xD800) << 10) + (s[++i] - 0xDC00);
    out.push_back(c);
  }
  return out;
}

// ICU's NFC or NFKC restricted to the characters of Unicode 14.0: the others neither decompose nor compose.
// Closed when the library is unloaded (a plugin that is dlclose'd must not leave them behind: LSan reports it).
class PinnedNormalizer {
 public:
  explicit PinnedNormalizer(bool compat) {
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2* base = compat ? unorm2_getNFKCInstance(&status) : unorm2_getNFCInstance(&status);
    static_assert(kPythonUnicodeVersion[0] == 14 && kPythonUnicodeVersion[1] == 0, "pattern below");
    const char16_t* pattern = u"[:age=14.0:]";  // ICU: every character assigned in 14.0 or earlier
    if (U_SUCCESS(status)) set_ = uset_openPattern(reinterpret_cast<const UChar*>(pattern), -1, &status);
    if (U_SUCCESS(status)) {
      uset_freeze(set_);  // borrowed by the filtered normalizer: closed after it
      filtered_ = unorm2_openFiltered(base, set_, &status);
    }
    if (U_FAILURE(status)) {
      close();
      throw std::runtime_error(std::string("ICU: cannot open NFC/NFKC: ") + u_errorName(status));
    }
  }
  ~PinnedNormalizer() { close(); }
  PinnedNormalizer(const PinnedNormalizer&) = delete;
  PinnedNormalizer& operator=(const PinnedNormalizer&) = delete;
  const UNormalizer2* get() const { return filtered_; }

 private:
  void close() {
    if (filtered_) unorm2_close(filtered_);
    if (set_) uset_close(set_);
    filtered_ = nullptr;
    set_ = nullptr;
  }
  USet* set_ = nullptr;
  UNormalizer2* filtered_ = nullptr;
};

const UNormalizer2* pinned(bool compat) {
  static const PinnedNormalizer nfc(false), nfkc(true);
  return compat ? nfkc.get() : nfc.get();
}

std::u32string normalize(std::u32string_view text, bool compat) {
  bool ascii = true;
  for (char32_t c : text) ascii = ascii && c < 0x80;
  if (ascii) return std::u32string(text);
  const std::u16string src = to_utf16(text);
  UErrorCode status = U_ZERO_ERROR;
  std::vector<char16_t> buf(src.size() * 3 + 16);
  int32_t n = unorm2_normalize(pinned(compat), reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()),
                               reinterpret_cast<UChar*>(buf.data()), static_cast<int32_t>(buf.size()), &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    buf.resize(static_cast<std::size_t>(n));
    status = U_ZERO_ERROR;
    n = unorm2_normalize(pinned(compat), reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()),
                         reinterpret_cast<UChar*>(buf.data()), n, &status);
  }
  if (U_FAILURE(status)) throw std::runtime_error(std::string("ICU: normalization: ") + u_errorName(status));
  return from_utf16(buf.data(), static_cast<std::size_t>(n));
}

// Python's final-sigma rule: a capital sigma after a cased letter (skipping case-ignorables) and not before one
// lowers to U+03C2.
char32_t lower_sigma(std::u32string_view text, std::size_t i) {
  auto cased = [](char32_t c) { return python_assigned(c) && u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CASED); };
  auto ignorable = [](char32_t c) {
    return python_assigned(c) && u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CASE_IGNORABLE);
  };
  std::size_t j = i;
  while (j > 0 && ignorable(text[j - 1])) --j;
  if (j == 0 || !cased(text[j - 1])) return 0x3C3;
  std::size_t k = i + 1;
  while (k < text.size() && ignorable(text[k])) ++k;
  return (k < text.size() && cased(text[k])) ? 0x3C3 : 0x3C2;
}

}  // namespace

std::size_t utf8_sequence_at(std::string_view bytes, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(bytes[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len;
  char32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > bytes.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(bytes[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool is_valid_utf8(std::string_view bytes, std::size_t* error_offset) {
  char32_t cp;
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t n = utf8_sequence_at(bytes, i, cp);
    if (n == 0) {
      if (error_offset) *error_offset = i;
      return false;
    }
    i += n;
  }
  return true;
}

std::u32string decode_utf8(std::string_view bytes, const std::string& what) {
  std::u32string out;
  out.reserve(bytes.size());
  char32_t cp;
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t n = utf8_sequence_at(bytes, i, cp);
    if (n == 0)
      throw std::invalid_argument(what + " is not valid UTF-8 (invalid byte sequence at byte offset " +
                                  std::to_string(i) + ")");
    out.push_back(cp);
    i += n;
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

bool assigned_in(char32_t c, std::array<int, 2> version) {
  if (c > 0x10FFFF) return false;
  if (u_charType(static_cast<UChar32>(c)) == U_UNASSIGNED) return false;
  UVersionInfo age;
  u_charAge(static_cast<UChar32>(c), age);
  return age[0] < version[0] || (age[0] == version[0] && age[1] <= version[1]);
}

bool is_letter(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_L_MASK) && assigned_in(c, kRegexUnicodeVersion);
}

bool is_number(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK) && assigned_in(c, kRegexUnicodeVersion);
}

bool is_whitespace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  if (!python_assigned(c)) return false;
  // CPython: bidirectional class WS, B or S, or general category Zs.
  const UCharDirection d = u_charDirection(static_cast<UChar32>(c));
  return d == U_WHITE_SPACE_NEUTRAL || d == U_BLOCK_SEPARATOR || d == U_SEGMENT_SEPARATOR ||
         u_charType(static_cast<UChar32>(c)) == U_SPACE_SEPARATOR;
}

bool is_python_word(char32_t c) {
  if (c < 0x80) return c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
  if (!python_assigned(c)) return false;
  // CPython str.isalnum: a letter (L*), or any Numeric_Type (decimal, digit, numeric).
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_L_MASK) ||
         u_getIntPropertyValue(static_cast<UChar32>(c), UCHAR_NUMERIC_TYPE) != U_NT_NONE;
}

bool is_decimal_digit(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return python_assigned(c) && u_charType(static_cast<UChar32>(c)) == U_DECIMAL_DIGIT_NUMBER;
}

char32_t simple_case_fold(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (!assigned_in(c, kRegexUnicodeVersion)) return c;
  return static_cast<char32_t>(u_foldCase(static_cast<UChar32>(c), U_FOLD_CASE_DEFAULT));
}

std::u32string to_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c < 0x80) {
      out.push_back((c >= 'A' && c <= 'Z') ? c + 32 : c);
    } else if (c == 0x3A3) {
      out.push_back(lower_sigma(text, i));
    } else if (!python_assigned(c)) {
      out.push_back(c);
    } else {
      // Full (possibly multi-character) lower-case mapping of one character, root locale, no context.
      const std::u16string src = to_utf16(std::u32string_view(&c, 1));
      char16_t buf[16];
      UErrorCode status = U_ZERO_ERROR;
      const int32_t n = u_strToLower(reinterpret_cast<UChar*>(buf), 16, reinterpret_cast<const UChar*>(src.data()),
                                     static_cast<int32_t>(src.size()), "", &status);
      if (U_FAILURE(status)) throw std::runtime_error(std::string("ICU: u_strToLower: ") + u_errorName(status));
      out += from_utf16(buf, static_cast<std::size_t>(n));
    }
  }
  return out;
}

std::u32string nfc(std::u32string_view text) { return normalize(text, false); }

std::u32string nfkc(std::u32string_view text) { return normalize(text, true); }

}  // namespace genplug::flux::text
