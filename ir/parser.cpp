// Parser for the IR's text form: exactly what printer.cpp writes, read back into a Module. It is a
// hand-written recursive-descent parser over characters (no separate lexer: tensor shapes such as
// `128x64xf32` do not tokenize nicely). Op syntax comes from the op table alone (find_op_info and
// its AttrSpecs), so there is no per-op code here: an op line is
//   [%r0, %r1 =] NAME [%a, %b] [{attr = v, ...}] [: T0, T1] [{ ^(%x: T): ops }]* [loc("f":L:C)]
// where the attribute block is present iff ops.def declares attributes, the type list iff there are
// results, and the op has exactly as many regions as ops.def says. Operands must sit on the op's
// line (so that an op without operands is not mistaken for one using the next line's results).
// SSA scoping is checked while parsing: a region sees the values of its enclosing blocks defined
// before its op, never the values of a sibling or nested region, and never its own op's results.
// Every error is a tessel::Error "<source>:LINE:COL: expected ..., found ...".
#include "tessel/ir/parser.h"

#include "tessel/dtype.h"

#include "tessel/error.h"

#include <cctype>
#include <charconv>
#include <unordered_map>

namespace tessel::ir {
namespace {

// An attribute value as written, before the op's result type says whether a `num` is an integer.
struct RawAttr {
  enum class Kind : uint8_t { Int, Float, Ints, Str, None };
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0;
  std::vector<int64_t> ints;
  std::string str;
  size_t pos = 0;
  std::string text;
};

struct Binding {
  Value* value;
  size_t pos; // where the name was defined
};

bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}
bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Parser {
public:
  Parser(std::string_view text, std::string_view source_name)
      : text_(text), source_name_(source_name) {}

  std::unique_ptr<Module> module() {
    module_ = std::make_unique<Module>();
    skip_ws();
    while (!at_end()) {
      expect_keyword("kernel", "'kernel'");
      function();
      skip_ws();
    }
    return std::move(module_);
  }

private:
  // ---- errors
  // ------------------------------------------------------------------------------------

  std::pair<uint32_t, uint32_t> line_column(size_t pos) const {
    uint32_t line = 1, column = 1;
    for (size_t i = 0; i < pos && i < text_.size(); ++i) {
      column = text_[i] == '\n' ? 1 : column + 1;
      line += text_[i] == '\n';
    }
    return {line, column};
  }
  std::string where(size_t pos) const {
    auto [line, column] = line_column(pos);
    return std::to_string(line) + ":" + std::to_string(column);
  }
  [[noreturn]] void fail_at(size_t pos, const std::string& message) const {
    auto [line, column] = line_column(pos);
    throw Error(SourceLoc{source_name_.c_str(), line, column}, message);
  }
  [[noreturn]] void fail_expected(const std::string& what) {
    skip_ws();
    fail_at(pos_, "expected " + what + ", found " + found());
  }
  // A short description of the text at the cursor, for "found ..." (the cursor is past spaces).
  std::string found() const {
    if (at_end())
      return "end of input";
    size_t end = pos_;
    char c = text_[pos_];
    if (c == '\n')
      return "end of line";
    if (c == '%' || c == '@' || is_ident_char(c) || c == '-') {
      end = pos_ + 1;
      while (end < text_.size() && (is_ident_char(text_[end]) || text_[end] == '+'))
        ++end;
    } else {
      end = pos_ + 1;
    }
    return "'" + std::string(text_.substr(pos_, end - pos_)) + "'";
  }

  // ---- characters and tokens
  // ---------------------------------------------------------------------

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  // The position after spaces, newlines and `//` comments from the cursor.
  size_t after_ws() const {
    size_t p = pos_;
    while (p < text_.size()) {
      char c = text_[p];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++p;
      } else if (c == '/' && p + 1 < text_.size() && text_[p + 1] == '/') {
        while (p < text_.size() && text_[p] != '\n')
          ++p;
      } else {
        break;
      }
    }
    return p;
  }
  void skip_ws() { pos_ = after_ws(); }
  // Skips spaces and tabs only: the rest of the current line.
  void skip_inline_ws() {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t'))
      ++pos_;
  }
  // Consumes `c` (after whitespace) when it is next; otherwise leaves the cursor alone.
  bool try_char(char c) {
    size_t p = after_ws();
    if (p >= text_.size() || text_[p] != c)
      return false;
    pos_ = p + 1;
    return true;
  }
  void expect_char(char c) {
    if (!try_char(c))
      fail_expected(std::string("'") + c + "'");
  }
  // The identifier after whitespace (possibly empty), without consuming anything.
  std::string_view peek_identifier() const {
    size_t start = after_ws(), end = start;
    if (end < text_.size() && is_ident_start(text_[end]))
      while (end < text_.size() && is_ident_char(text_[end]))
        ++end;
    return text_.substr(start, end - start);
  }
  // Consumes the identifier `id` that peek_identifier() returned.
  void consume(std::string_view id) { pos_ = size_t(id.data() - text_.data()) + id.size(); }
  std::string_view identifier(const char* what) {
    std::string_view id = peek_identifier();
    if (id.empty())
      fail_expected(what);
    consume(id);
    return id;
  }
  bool try_keyword(std::string_view kw) {
    std::string_view id = peek_identifier();
    if (id != kw)
      return false;
    consume(id);
    return true;
  }
  void expect_keyword(std::string_view kw, const char* what) {
    if (!try_keyword(kw))
      fail_expected(what);
  }

  int64_t integer(const char* what) {
    skip_ws();
    size_t start = pos_;
    if (peek() == '-')
      ++pos_;
    while (is_digit(peek()))
      ++pos_;
    int64_t v = 0;
    auto res = std::from_chars(text_.data() + start, text_.data() + pos_, v);
    if (res.ec != std::errc() || res.ptr != text_.data() + pos_ || is_ident_char(peek())) {
      pos_ = start;
      fail_expected(what);
    }
    return v;
  }

  // A `%name` reference or definition; returns the name without the `%`.
  std::string value_name() {
    skip_ws();
    if (peek() != '%')
      fail_expected("a value name (%...)");
    size_t start = ++pos_;
    while (is_ident_char(peek()))
      ++pos_;
    if (pos_ == start) {
      --pos_;
      fail_expected("a value name (%...)");
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  // ---- SSA names and scopes
  // ----------------------------------------------------------------------

  Binding* lookup(const std::string& name) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = it->find(name);
      if (found != it->end())
        return &found->second;
    }
    return nullptr;
  }
  void check_new_name(const std::string& name, size_t pos) {
    if (Binding* b = lookup(name))
      fail_at(pos, "expected a new value name, found %" + name + " (already defined at " +
                       where(b->pos) + ")");
  }
  void define(const std::string& name, size_t pos, Value* v) {
    check_new_name(name, pos);
    scopes_.back().emplace(name, Binding{v, pos});
  }
  void push_scope() { scopes_.emplace_back(); }
  void pop_scope() {
    for (auto& [name, b] : scopes_.back())
      out_of_scope_[name] = b.pos;
    scopes_.pop_back();
  }
  Value* use(const std::string& name, size_t pos) {
    if (Binding* b = lookup(name))
      return b->value;
    auto gone = out_of_scope_.find(name);
    if (gone != out_of_scope_.end())
      fail_at(pos, "expected a value visible here, found %" + name + ", which is defined at " +
                       where(gone->second) +
                       " inside a region that does not enclose this use (a value cannot be used "
                       "outside the region that defines it)");
    fail_at(pos, "expected a defined value, found %" + name + " (undefined)");
  }

  // ---- layouts (types.h): #kind<register=[...], lane=[...], ...>
  // ---------------------------------

  const LayoutAttr* layout_attr(size_t rank) {
    expect_char('#');
    size_t kind_pos = after_ws();
    std::string_view kind_name = identifier("a layout kind");
    std::optional<LayoutKind> kind;
    for (LayoutKind k : {LayoutKind::Blocked, LayoutKind::Slice, LayoutKind::Shared,
                         LayoutKind::Linear, LayoutKind::Mma, LayoutKind::DotOperand})
      if (kind_name == layout_kind_name(k))
        kind = k;
    if (!kind)
      fail_at(kind_pos,
              "expected a layout kind (blocked, slice, shared, linear, mma or dot_op), found '" +
                  std::string(kind_name) + "'");
    expect_char('<');
    LayoutAttr::Bases bases;
    int last_dim = -1;
    while (!try_char('>')) {
      if (last_dim >= 0)
        expect_char(',');
      size_t dim_pos = after_ws();
      int d = layout_in_dim(identifier("a layout input dim"), dim_pos);
      if (d <= last_dim)
        fail_at(dim_pos, "expected the layout input dims in the order register, lane, warp, block, "
                         "each at most once");
      last_dim = d;
      expect_char('=');
      bases[d] = layout_bases(rank);
    }
    return module_->ctx.layout(*kind, std::move(bases));
  }

  // One coordinate of a basis image; whether it lies in the tensor is the verifier's question.
  int32_t coordinate() {
    size_t pos = after_ws();
    int64_t c = integer("a basis coordinate");
    if (c < 0 || c > INT32_MAX)
      fail_at(pos, "expected a basis coordinate in 0..2^31-1, found " + std::to_string(c));
    return static_cast<int32_t>(c);
  }

  int layout_in_dim(std::string_view name, size_t pos) {
    for (int d = 0; d < LayoutAttr::kNumInDims; ++d)
      if (name == LayoutAttr::in_dim_name(d))
        return d;
    fail_at(pos, "expected a layout input dim (register, lane, warp or block), found '" +
                     std::string(name) + "'");
  }

  // `[b, b, ...]`, each b an integer for rank 1 and `[c0, c1, ...]` (rank coordinates) otherwise.
  std::vector<LayoutAttr::Basis> layout_bases(size_t rank) {
    std::vector<LayoutAttr::Basis> out;
    expect_char('[');
    while (!try_char(']')) {
      if (!out.empty())
        expect_char(',');
      if (rank == 1) {
        out.push_back({coordinate()});
        continue;
      }
      LayoutAttr::Basis b;
      expect_char('[');
      while (!try_char(']')) {
        if (!b.empty())
          expect_char(',');
        b.push_back(coordinate());
      }
      out.push_back(std::move(b));
    }
    return out;
  }

  // ---- types
  // -------------------------------------------------------------------------------------

  const Type* type() {
    skip_ws();
    size_t start = pos_;
    std::string_view id = peek_identifier();
    if (id == "ptr") {
      consume(id);
      expect_char('<');
      skip_ws();
      size_t pointee_pos = pos_;
      const Type* pointee = type();
      if (!pointee->is_scalar())
        fail_at(pointee_pos, "expected a scalar pointee type, found '" + pointee->str() + "'");
      int64_t as = 1;
      if (try_char(',')) {
        skip_ws();
        size_t as_pos = pos_;
        as = integer("an address space");
        if (as < 0 || as > 255)
          fail_at(as_pos, "expected an address space in 0..255, found " + std::to_string(as));
      }
      expect_char('>');
      return module_->ctx.pointer(pointee, unsigned(as));
    }
    if (id == "tensor") {
      consume(id);
      expect_char('<');
      skip_ws();
      std::vector<int64_t> dims;
      while (is_digit(peek())) {
        size_t dim_pos = pos_;
        while (is_digit(peek()))
          ++pos_;
        int64_t d = 0;
        auto res = std::from_chars(text_.data() + dim_pos, text_.data() + pos_, d);
        if (res.ec != std::errc() || !is_power_of_two(d))
          fail_at(dim_pos, "expected a power-of-two dimension, found " +
                               std::string(text_.substr(dim_pos, pos_ - dim_pos)));
        dims.push_back(d);
        if (peek() != 'x')
          fail_expected("'x' after a tensor dimension");
        ++pos_;
      }
      if (dims.empty())
        fail_expected("a tensor dimension");
      skip_ws();
      size_t elem_pos = pos_;
      const Type* element = type();
      if (element->is_tensor())
        fail_at(elem_pos,
                "expected a scalar or pointer element type, found '" + element->str() + "'");
      const LayoutAttr* layout = try_char(',') ? layout_attr(dims.size()) : nullptr;
      expect_char('>');
      return module_->ctx.tensor(dims, element, layout);
    }
    for (size_t k = 0; k <= size_t(kLastDType); ++k) {
      if (id == dtype_name(DType(k))) {
        consume(id);
        return module_->ctx.scalar(DType(k));
      }
    }
    pos_ = start;
    fail_expected("a type");
  }

  // ---- attributes
  // --------------------------------------------------------------------------------

  RawAttr raw_attr() {
    skip_ws();
    RawAttr a;
    a.pos = pos_;
    if (try_char('[')) {
      a.kind = RawAttr::Kind::Ints;
      if (!try_char(']')) {
        do
          a.ints.push_back(integer("an integer"));
        while (try_char(','));
        expect_char(']');
      }
      a.text = std::string(text_.substr(a.pos, pos_ - a.pos));
      return a;
    }
    if (try_keyword("none")) {
      a.text = "none";
      return a;
    }
    if (peek() == '"') {
      a.kind = RawAttr::Kind::Str;
      a.str = string_literal();
      a.text = std::string(text_.substr(a.pos, pos_ - a.pos));
      return a;
    }
    // A number: [-] (inf | nan | digits [. digits] [e [+-] digits]).
    size_t start = pos_;
    if (peek() == '-')
      ++pos_;
    bool is_float = false;
    if (std::string_view id = peek_identifier(); id == "inf" || id == "nan") {
      consume(id);
      is_float = true;
    } else if (is_digit(peek())) {
      while (is_digit(peek()))
        ++pos_;
      if (peek() == '.') {
        is_float = true;
        ++pos_;
        while (is_digit(peek()))
          ++pos_;
      }
      if (peek() == 'e' || peek() == 'E') {
        is_float = true;
        ++pos_;
        if (peek() == '+' || peek() == '-')
          ++pos_;
        while (is_digit(peek()))
          ++pos_;
      }
    } else {
      pos_ = start;
      fail_expected("an attribute value (a number, [integers], a \"string\" or none)");
    }
    a.text = std::string(text_.substr(start, pos_ - start));
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    std::from_chars_result res{};
    if (is_float) {
      a.kind = RawAttr::Kind::Float;
      res = std::from_chars(first, last, a.f);
    } else {
      a.kind = RawAttr::Kind::Int;
      res = std::from_chars(first, last, a.i);
    }
    if (res.ec != std::errc() || res.ptr != last || is_ident_char(peek()))
      fail_at(start, "expected a number, found '" + a.text + "'");
    return a;
  }

  // A string attribute as the printer writes it: `"`, escapes \" \\ and \xHH.
  std::string string_literal() {
    expect_char('"');
    std::string out;
    while (peek() != '"') {
      if (at_end() || peek() == '\n')
        fail_expected("'\"' closing the string");
      if (peek() != '\\') {
        out += text_[pos_++];
        continue;
      }
      ++pos_;
      if (peek() == '"' || peek() == '\\') {
        out += text_[pos_++];
        continue;
      }
      if (peek() != 'x' || pos_ + 2 >= text_.size() || !is_hex(text_[pos_ + 1]) ||
          !is_hex(text_[pos_ + 2]))
        fail_expected("an escape \\\", \\\\ or \\xHH in the string");
      out += static_cast<char>(hex_value(text_[pos_ + 1]) * 16 + hex_value(text_[pos_ + 2]));
      pos_ += 3;
    }
    ++pos_;
    return out;
  }
  static bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }
  static int hex_value(char c) {
    if (c >= '0' && c <= '9')
      return c - '0';
    return (c | 0x20) - 'a' + 10;
  }

  // `{name = value, ...}` in ops.def order; optional attributes (and the whole block, when every
  // attribute is optional) may be left out.
  void attribute_block(const OpInfo& info, std::vector<RawAttr>& raw) {
    bool any_required = false;
    for (const AttrSpec& spec : info.attrs)
      any_required |= !spec.optional;
    const size_t before = pos_;
    if (!any_required && !try_char('{'))
      return;
    // A `for` without its optional attributes: that brace opens its region.
    if (!any_required && try_char('^')) {
      pos_ = before;
      return;
    }
    if (any_required)
      expect_char('{');
    size_t written = 0;
    for (size_t i = 0; i < info.attrs.size(); ++i) {
      const AttrSpec& spec = info.attrs[i];
      size_t save = pos_;
      bool comma = written == 0 || try_char(',');
      if (spec.optional && (!comma || !try_keyword(spec.name))) {
        pos_ = save;
        continue;
      }
      if (!comma)
        expect_char(',');
      if (!spec.optional && !try_keyword(spec.name))
        fail_expected("attribute '" + spec.name + "' of '" + info.name + "'");
      expect_char('=');
      raw[i] = raw_attr();
      ++written;
    }
    expect_char('}');
  }

  // Converts what was written to the kind ops.def declares; `float_result` says whether a `num`
  // attribute is a float (by the result's element type).
  Attr convert_attr(const RawAttr& raw, const AttrSpec& spec, const OpInfo& info,
                    bool float_result) {
    using K = AttrSpec::Kind;
    if (raw.kind == RawAttr::Kind::None)
      return Attr{};
    bool want_float = spec.kind == K::Float || (spec.kind == K::Num && float_result);
    const char* want = spec.kind == K::Ints  ? "a list of integers"
                       : spec.kind == K::Str ? "a string"
                       : want_float          ? "a float"
                                             : "an integer";
    auto wrong = [&]() {
      fail_at(raw.pos, std::string("expected ") + want + " for attribute '" + spec.name + "' of '" +
                           info.name + "', found " + raw.text);
    };
    if (spec.kind == K::Ints) {
      if (raw.kind != RawAttr::Kind::Ints)
        wrong();
      return Attr::of_ints(raw.ints);
    }
    if (spec.kind == K::Str) {
      if (raw.kind != RawAttr::Kind::Str)
        wrong();
      return Attr::of_str(raw.str);
    }
    if (want_float) {
      if (raw.kind == RawAttr::Kind::Float)
        return Attr::of_float(raw.f);
      if (raw.kind == RawAttr::Kind::Int)
        return Attr::of_float(double(raw.i));
      wrong();
    }
    if (raw.kind != RawAttr::Kind::Int)
      wrong();
    return Attr::of_int(raw.i);
  }

  // ---- ops, blocks, kernels
  // ----------------------------------------------------------------------

  SourceLoc location() {
    expect_char('(');
    expect_char('"');
    std::string file;
    while (peek() != '"') {
      if (at_end() || peek() == '\n')
        fail_expected("'\"' closing the file name");
      if (peek() == '\\')
        ++pos_;
      if (at_end())
        fail_expected("'\"' closing the file name");
      file += text_[pos_++];
    }
    ++pos_;
    SourceLoc loc;
    loc.file = module_->ctx.intern(file);
    expect_char(':');
    int64_t line = integer("a line number");
    expect_char(':');
    int64_t column = integer("a column number");
    if (line < 0 || line > UINT32_MAX || column < 0 || column > UINT32_MAX)
      fail_expected("a line and column that fit in 32 bits");
    loc.line = uint32_t(line);
    loc.column = uint32_t(column);
    expect_char(')');
    return loc;
  }

  // The region's `{ [^(args):] ops }`.
  void region(Block& block) {
    expect_char('{');
    push_scope();
    if (try_char('^')) {
      expect_char('(');
      if (!try_char(')')) {
        do {
          skip_ws();
          size_t pos = pos_;
          std::string name = value_name();
          expect_char(':');
          define(name, pos, block.add_arg(type()));
        } while (try_char(','));
        expect_char(')');
      }
      expect_char(':');
    }
    ops(block);
    expect_char('}');
    pop_scope();
  }

  void ops(Block& block) {
    for (skip_ws(); !at_end() && peek() != '}'; skip_ws())
      op(block);
  }

  void op(Block& block) {
    skip_ws();
    // Results.
    size_t results_pos = pos_;
    std::vector<std::pair<std::string, size_t>> result_names;
    if (peek() == '%') {
      do {
        skip_ws();
        size_t pos = pos_;
        std::string name = value_name();
        check_new_name(name, pos);
        result_names.emplace_back(std::move(name), pos);
      } while (try_char(','));
      expect_char('=');
    }
    // Name.
    skip_ws();
    size_t name_pos = pos_;
    std::string_view name = identifier("an op name");
    const OpInfo* info = find_op_info(name);
    if (!info)
      fail_at(name_pos, "expected an op name, found '" + std::string(name) + "' (no such op)");
    // Operands: on the op's line only.
    std::vector<Value*> operands;
    skip_inline_ws();
    if (peek() == '%') {
      do {
        skip_ws();
        size_t pos = pos_;
        operands.push_back(use(value_name(), pos));
      } while (try_char(','));
    }
    if (info->num_operands != VAR && size_t(info->num_operands) != operands.size())
      fail_at(name_pos, "expected " + std::to_string(info->num_operands) + " operand(s) for '" +
                            info->name + "', found " + std::to_string(operands.size()));
    if (info->num_results != VAR && size_t(info->num_results) != result_names.size())
      fail_at(results_pos, "expected " + std::to_string(info->num_results) + " result(s) for '" +
                               info->name + "', found " + std::to_string(result_names.size()));
    // Attributes, in ops.def order.
    std::vector<RawAttr> raw(info->attrs.size()); // absent optional ones stay None
    if (!info->attrs.empty())
      attribute_block(*info, raw);
    // Result types.
    std::vector<const Type*> types;
    if (!result_names.empty()) {
      expect_char(':');
      do
        types.push_back(type());
      while (types.size() < result_names.size() && try_char(','));
      if (types.size() != result_names.size())
        fail_expected(std::to_string(result_names.size()) + " result types");
    }
    bool float_result = !types.empty() && types.front()->is_float();
    std::vector<Attr> attrs;
    for (size_t i = 0; i < raw.size(); ++i)
      attrs.push_back(convert_attr(raw[i], info->attrs[i], *info, float_result));
    // A float `num` written in decimal (0.1 : f32) means the nearest value of the result type.
    for (size_t i = 0; i < attrs.size(); ++i)
      if (info->attrs[i].kind == AttrSpec::Kind::Num && attrs[i].kind == Attr::Kind::Float &&
          float_result)
        attrs[i].f = round_to_dtype(attrs[i].f, types.front()->element()->dtype());

    Op* op = block.append(std::make_unique<Op>(info->opcode, std::move(operands), types,
                                               std::move(attrs), SourceLoc{}));
    for (int r = 0; r < info->num_regions; ++r)
      region(op->region(size_t(r)));
    // An op's results are visible after the op (not in its own regions).
    for (size_t i = 0; i < result_names.size(); ++i)
      define(result_names[i].first, result_names[i].second, op->result(i));
    skip_inline_ws();
    if (text_.substr(pos_, 4) == "loc(") {
      pos_ += 3;
      op->loc = location();
    }
    skip_inline_ws();
    bool at_line_end = at_end() || peek() == '\n' || peek() == '\r' || peek() == '}' ||
                       text_.substr(pos_, 2) == "//";
    if (!at_line_end)
      fail_expected("the end of the '" + std::string(info->name) + "' op");
  }

  void function() {
    expect_char('@');
    skip_ws();
    size_t name_pos = pos_;
    while (is_ident_char(peek()))
      ++pos_;
    std::string name(text_.substr(name_pos, pos_ - name_pos));
    if (name.empty())
      fail_expected("a kernel name");
    if (module_->find(name))
      fail_at(name_pos, "expected a new kernel name, found @" + name + " (already defined)");
    Function& f = module_->add_function(name);
    scopes_.clear();
    out_of_scope_.clear();
    push_scope();
    expect_char('(');
    if (!try_char(')')) {
      do {
        skip_ws();
        size_t pos = pos_;
        std::string arg = value_name();
        expect_char(':');
        const Type* t = type();
        int64_t div = 1;
        if (try_char('{')) {
          expect_keyword("div", "'div'");
          expect_char('=');
          skip_ws();
          size_t div_pos = pos_;
          div = integer("an integer");
          if (div < 1)
            fail_at(div_pos, "expected a positive divisibility, found " + std::to_string(div));
          expect_char('}');
        }
        define(arg, pos, f.add_arg(t, div));
      } while (try_char(','));
      expect_char(')');
    }
    if (try_keyword("shared")) {
      expect_char('(');
      skip_ws();
      size_t bytes_pos = pos_;
      f.shared_bytes = integer("a byte count");
      if (f.shared_bytes < 0)
        fail_at(bytes_pos, "expected a byte count >= 0, found " + std::to_string(f.shared_bytes));
      expect_char(')');
    }
    expect_char('{');
    ops(f.body);
    expect_char('}');
    pop_scope();
  }

  std::string_view text_;
  std::string source_name_;
  size_t pos_ = 0;
  std::unique_ptr<Module> module_;
  // Innermost last. Lookups only: never iterated for output.
  std::vector<std::unordered_map<std::string, Binding>> scopes_;
  // Names whose region has closed, with where they were defined (for the scoping diagnostic).
  std::unordered_map<std::string, size_t> out_of_scope_;
};

} // namespace

std::unique_ptr<Module> parse_module(std::string_view text, std::string_view source_name) {
  return Parser(text, source_name).module();
}

} // namespace tessel::ir
