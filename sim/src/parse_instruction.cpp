// The PTX parser, instruction level: guards, mnemonics (decoded by decode.cpp), operands
// (registers, immediates, addresses, vectors, labels, symbols) resolved to register slots,
// and the end of a function: label resolution, an implicit final ret, reconvergence points.
#include "cfg.h"
#include "decode.h"
#include "parser.h"
#include "wgmma.h"

#include <cstring>

namespace tessel::sim {

uint32_t Parser::const_slot(uint64_t value) {
  auto it = consts_.find(value);
  if (it != consts_.end())
    return it->second;
  uint32_t slot = fn_->num_slots++;
  consts_[value] = slot;
  fn_->constants.push_back({slot, value});
  return slot;
}

uint32_t Parser::special_slot(Special s) {
  auto it = specials_.find(static_cast<int>(s));
  if (it != specials_.end())
    return it->second;
  uint32_t slot = fn_->num_slots++;
  specials_[static_cast<int>(s)] = slot;
  fn_->launch_slots.push_back({slot, s, 0});
  return slot;
}

uint32_t Parser::symbol_slot(uint32_t symbol) {
  auto it = symbol_slots_.find(symbol);
  if (it != symbol_slots_.end())
    return it->second;
  uint32_t slot = fn_->num_slots++;
  symbol_slots_[symbol] = slot;
  fn_->launch_slots.push_back({slot, Special::symbol, symbol});
  return slot;
}

std::optional<uint32_t> Parser::find_symbol(std::string_view name) const {
  std::string n(name);
  if (auto it = function_symbols_.find(n); it != function_symbols_.end())
    return it->second;
  if (auto it = module_symbols_.find(n); it != module_symbols_.end())
    return it->second;
  return std::nullopt;
}

uint32_t Parser::reg_slot(const Token& t) {
  std::string name(t.text);
  if (auto it = regs_.find(name); it != regs_.end())
    return it->second;
  if (Special s; special_register(t.text, s))
    return special_slot(s);
  if (name == "%clock" || name == "%clock64" || name == "%globaltimer")
    fail(t, "'" + name + "' may only be read by mov", ErrorKind::unsupported);
  if (auto sym = find_symbol(t.text))
    return symbol_slot(*sym);
  if (preds_.count(name))
    fail(t, "predicate '" + name + "' used where a register is expected");
  fail(t, "undeclared register or symbol '" + name + "'");
}

void Parser::parse_operand(Inst& inst, int index, std::vector<RawLabelRef>& labels) {
  Operand& op = inst.ops[index];
  Token t = lex_.next();
  if (t.is('{')) {
    op.kind = OperandKind::vec;
    op.index = static_cast<uint32_t>(fn_->vec_pool.size());
    for (;;) {
      Token r = lex_.next();
      if (r.kind == Tok::ident && r.text == "_") {
        fn_->vec_pool.push_back(fn_->sink_slot);
      } else if (r.kind == Tok::ident) {
        fn_->vec_pool.push_back(reg_slot(r));
      } else if (r.kind == Tok::integer) {
        fn_->vec_pool.push_back(const_slot(r.int_value));
      } else if (r.kind == Tok::floating) {
        fn_->vec_pool.push_back(const_slot(float_literal(r, inst.type)));
      } else {
        fail(r, "expected a register in a vector operand, found '" + describe(r) + "'");
      }
      ++op.count;
      Token sep = lex_.next();
      if (sep.is('}'))
        break;
      if (!sep.is(','))
        fail(sep, "expected ',' or '}' in a vector operand");
    }
    return;
  }
  if (t.is('[')) {
    op.kind = OperandKind::addr;
    Token b = lex_.next();
    if (b.kind == Tok::ident) {
      op.index = reg_slot(b);
    } else if (b.kind == Tok::integer) {
      op.imm = static_cast<int64_t>(b.int_value);
    } else {
      fail(b, "expected an address, found '" + describe(b) + "'");
    }
    Token n = lex_.next();
    if (n.is(',') && index + 1 < 8) {
      // `[tensorMap, {c0, ...}]` (cp.async.bulk.tensor): the coordinates become the next
      // operand; `count = 1` marks the address as followed by them.
      op.count = 1;
      parse_operand(inst, index + 1, labels);
      if (inst.ops[index + 1].kind != OperandKind::vec)
        fail(n, "expected a braced coordinate list after the tensor map");
      n = lex_.next();
    }
    if (n.is('+') || n.is('-')) {
      bool negative = n.is('-');
      Token v = lex_.next();
      if (v.is('-')) {
        negative = !negative;
        v = lex_.next();
      }
      if (v.kind != Tok::integer)
        fail(v, "expected an integer offset");
      op.imm += negative ? -static_cast<int64_t>(v.int_value) : static_cast<int64_t>(v.int_value);
      n = lex_.next();
    }
    if (!n.is(']'))
      fail(n, "expected ']' to close the address");
    return;
  }
  if (t.is('!')) {
    Token p = expect_ident("a predicate");
    auto it = preds_.find(std::string(p.text));
    if (it == preds_.end())
      fail(p, "undeclared predicate '" + describe(p) + "'");
    op.kind = OperandKind::pred;
    op.index = it->second;
    op.neg = true;
    return;
  }
  if (t.is('-') || t.kind == Tok::integer || t.kind == Tok::floating) {
    bool negative = t.is('-');
    if (negative)
      t = lex_.next();
    uint64_t bits;
    if (t.kind == Tok::integer) {
      bits = negative ? uint64_t(0) - t.int_value : t.int_value;
      if (is_float(inst.type) && inst.op != Op::mov && type_size(inst.type) >= 4 &&
          inst.family == Family::float_arith) {
        Token f;
        f.kind = Tok::floating;
        double v = negative ? -double(t.int_value) : double(t.int_value);
        std::memcpy(&f.float_bits, &v, 8);
        bits = float_literal(f, inst.type);
      }
    } else if (t.kind == Tok::floating) {
      Type ft = inst.type;
      if (inst.op == Op::cvt)
        ft = inst.type2;
      if (!is_float(ft))
        ft = t.float_is_f32 ? Type::f32 : Type::f64;
      bits = float_literal(t, ft);
      if (negative)
        bits ^= uint64_t(1) << (type_size(ft) * 8 - 1);
    } else {
      fail(t, "expected a number after '-'");
    }
    op.kind = OperandKind::imm;
    op.imm = static_cast<int64_t>(bits);
    op.index = const_slot(bits);
    return;
  }
  if (t.kind != Tok::ident)
    fail(t, "expected an operand, found '" + describe(t) + "'");
  std::string name(t.text);
  if (auto it = preds_.find(name); it != preds_.end()) {
    op.kind = OperandKind::pred;
    op.index = it->second;
    return;
  }
  if (name == "%clock" || name == "%clock_hi") {
    op.kind = OperandKind::clock;
    return;
  }
  if (name == "%clock64" || name == "%globaltimer") {
    op.kind = OperandKind::clock64;
    return;
  }
  if (name == "_") {
    op.kind = OperandKind::reg;
    op.index = fn_->sink_slot;
    return;
  }
  if (inst.op == Op::bra || inst.op == Op::call) {
    if (!regs_.count(name)) {
      op.kind = OperandKind::label;
      labels.push_back({fn_->code.size(), index, name, t.line, t.column});
      return;
    }
  }
  if (regs_.count(name) || name[0] == '%') {
    op.kind = OperandKind::reg;
    op.index = reg_slot(t);
    // `%r1|%p2`: a second, predicate destination (shfl.sync, setp).
    return;
  }
  if (auto sym = find_symbol(name)) {
    op.kind = OperandKind::symbol;
    op.index = symbol_slot(*sym);
    op.imm = *sym;
    return;
  }
  fail(t, "undeclared identifier '" + name + "'");
}

// The fewest operands (destination included) each arithmetic, logic, compare, move and convert
// opcode takes; their executors read these positions unconditionally, so `shl.b32 %r1;` must be
// a parse error, not a read of a missing operand (found by the sim_ptx fuzzer: a host SEGV).
// Opcodes not listed check their operands where they decode or execute them.
struct MinOperands {
  Op op;
  int count;
};
constexpr MinOperands kMinOperands[] = {
    {Op::add, 3},
    {Op::sub, 3},
    {Op::mul, 3},
    {Op::mad, 4},
    {Op::fma, 4},
    {Op::div, 3},
    {Op::rem, 3},
    {Op::min, 3},
    {Op::max, 3},
    {Op::abs, 2},
    {Op::neg, 2},
    {Op::rcp, 2},
    {Op::sqrt, 2},
    {Op::rsqrt, 2},
    {Op::ex2, 2},
    {Op::lg2, 2},
    {Op::sin, 2},
    {Op::cos, 2},
    {Op::tanh, 2},
    {Op::copysign, 3},
    {Op::testp, 2},
    {Op::shl, 3},
    {Op::shr, 3},
    {Op::and_, 3},
    {Op::or_, 3},
    {Op::xor_, 3},
    {Op::not_, 2},
    {Op::cnot, 2},
    {Op::lop3, 5},
    {Op::bfe, 4},
    {Op::bfi, 5},
    {Op::popc, 2},
    {Op::clz, 2},
    {Op::brev, 2},
    {Op::bfind, 2},
    {Op::prmt, 4},
    {Op::shf, 4},
    {Op::mul24, 3},
    {Op::mad24, 4},
    {Op::sad, 4},
    {Op::dp4a, 4},
    {Op::setp, 3},
    {Op::set, 3},
    {Op::selp, 4},
    {Op::slct, 4},
    {Op::mov, 2},
    {Op::cvt, 2},
    {Op::cvta, 2},
    {Op::addc, 3},
    {Op::subc, 3},
    {Op::madc, 4},
    // Warp collectives read their membermask at a fixed position (exec_warp.cpp): shfl.sync's
    // `shfl.sync.bfly.b32 %f14, %f11;` read past its operands (found by a long sim_ptx run).
    {Op::shfl, 5},
    {Op::vote, 3},
    {Op::redux, 3},
    {Op::match, 3},
    {Op::elect, 2},
    {Op::activemask, 1},
};

void Parser::check_operand_count(const Token& mnemonic, const Inst& inst) {
  std::string name = "'" + std::string(mnemonic.text) + "'";
  for (const MinOperands& m : kMinOperands)
    if (m.op == inst.op && inst.nops < m.count)
      fail(mnemonic, name + " takes at least " + std::to_string(m.count) + " operands, found " +
                         std::to_string(inst.nops));
  // wgmma's shapes, types and operand forms (wgmma_forms.cpp): its executor relies on them.
  if (inst.op == Op::wgmma_mma_async)
    if (std::string why = wgmma_operand_error(inst, *fn_); !why.empty())
      fail(mnemonic, name + ": " + why);
  if (inst.op == Op::wgmma_wait && (inst.nops != 1 || inst.ops[0].kind != OperandKind::imm))
    fail(mnemonic, name + " takes one immediate: the number of wgmma groups left in flight");
  // The CFG indexes instructions by a bra's label (a register or number there overflowed it at
  // parse time: found by the sim_ptx fuzzer).
  if (inst.op == Op::bra && (inst.nops < 1 || inst.ops[0].kind != OperandKind::label))
    fail(mnemonic, name + " needs a label as its target");
  // setp writes the predicate file: a data register there indexed it past its end (found by the
  // sim_ptx fuzzer: an ASan heap read after free in exec_compare).
  if (inst.op == Op::setp && inst.ops[0].kind != OperandKind::pred)
    fail(mnemonic, name + " needs a predicate register as its destination");
  if (inst.op != Op::ld && inst.op != Op::ldu && inst.op != Op::st)
    return;
  // ld/st read an address and vec elements at fixed places (a .v4 load into a 2-element list
  // read past the function's vector pool: found by the sim_ptx fuzzer, a heap overflow).
  if (inst.nops < 2)
    fail(mnemonic,
         name + " takes a value and an address, found " + std::to_string(inst.nops) + " operands");
  const bool store = inst.op == Op::st;
  const Operand& addr = store ? inst.ops[0] : inst.ops[1];
  const Operand& value = store ? inst.ops[1] : inst.ops[0];
  if (addr.kind != OperandKind::addr)
    fail(mnemonic, name + " needs an address in brackets as its " +
                       std::string(store ? "first" : "second") + " operand");
  const unsigned elements = value.kind == OperandKind::vec ? value.count : 1;
  if (elements != inst.vec)
    fail(mnemonic, name + " moves " + std::to_string(inst.vec) + " element(s) but its value has " +
                       std::to_string(elements));
}

void Parser::parse_instruction(Token first) {
  Inst inst;
  inst.line = first.line;
  inst.column = first.column;
  inst.loc_file = loc_file_;
  inst.loc_line = loc_line_;
  Token mn = first;
  if (first.is('@')) {
    bool neg = false;
    Token p = lex_.next();
    if (p.is('!')) {
      neg = true;
      p = lex_.next();
    }
    auto it = preds_.find(std::string(p.text));
    if (p.kind != Tok::ident || it == preds_.end())
      fail(p, "expected a predicate after '@'");
    inst.guard = it->second;
    inst.guard_neg = neg;
    mn = expect_ident("an instruction");
  }
  if (mn.kind != Tok::ident)
    fail(mn, "expected an instruction");
  DecodeError derr;
  if (!decode_mnemonic(mn.text, inst, derr))
    fail(mn, derr.message, derr.unsupported ? ErrorKind::unsupported : ErrorKind::parse);
  auto [it, inserted] = mnemonic_ids_.try_emplace(std::string(mn.text), m_.mnemonics.size());
  if (inserted)
    m_.mnemonics.emplace_back(mn.text);
  inst.mnemonic = it->second;
  std::vector<RawLabelRef> labels;
  if (inst.op == Op::call) {
    // call[.uni] [(ret)], target, [(args)];  -- parenthesised lists become vec operands
    int index = 0;
    for (;;) {
      Token t = lex_.peek();
      if (t.is(';'))
        break;
      if (index >= 3)
        fail(t, "too many operands for call");
      if (t.is('(')) {
        lex_.next();
        Operand& op = inst.ops[index];
        op.kind = OperandKind::vec;
        op.index = static_cast<uint32_t>(fn_->vec_pool.size());
        while (!lex_.peek().is(')')) {
          Token a = expect_ident("a parameter name");
          auto sym = find_symbol(a.text);
          if (!sym)
            fail(a, "undeclared parameter '" + describe(a) + "'");
          fn_->vec_pool.push_back(*sym);
          ++op.count;
          if (lex_.peek().is(','))
            lex_.next();
        }
        lex_.next();
      } else {
        Token target = expect_ident("a function name");
        int f = m_.find_function(std::string(target.text));
        if (f < 0)
          fail(target, "call to undeclared function '" + describe(target) + "'");
        inst.ops[index].kind = OperandKind::label;
        inst.ops[index].index = static_cast<uint32_t>(f);
      }
      ++index;
      if (lex_.peek().is(','))
        lex_.next();
    }
    lex_.next();
    inst.nops = static_cast<uint8_t>(index);
    fn_->code.push_back(inst);
    return;
  }
  int index = 0;
  if (!lex_.peek().is(';')) {
    for (;;) {
      if (index >= 8)
        fail(lex_.peek(), "too many operands");
      parse_operand(inst, index, labels);
      if (inst.ops[index].kind == OperandKind::addr && inst.ops[index].count == 1)
        ++index; // the coordinate vector parse_operand put after it
      ++index;
      Token sep = lex_.next();
      if (sep.is('|')) {
        Token p = expect_ident("a predicate after '|'");
        auto pit = preds_.find(std::string(p.text));
        if (pit == preds_.end())
          fail(p, "undeclared predicate '" + describe(p) + "'");
        inst.ops[5].kind = OperandKind::pred;
        inst.ops[5].index = pit->second;
        sep = lex_.next();
      }
      if (sep.is(';'))
        break;
      if (!sep.is(','))
        fail(sep, "expected ',' or ';' after an operand, found '" + describe(sep) + "'");
    }
  } else {
    lex_.next();
  }
  inst.nops = static_cast<uint8_t>(index);
  check_operand_count(mn, inst);
  for (auto& l : labels)
    label_refs_.push_back(l);
  fn_->uses_wgmma |= inst.family == Family::wgmma;
  fn_->code.push_back(inst);
}

void Parser::finish_function() {
  for (auto& ref : label_refs_) {
    auto it = labels_.find(ref.name);
    if (it == labels_.end()) {
      Token t;
      t.line = ref.line;
      t.column = ref.column;
      fail(t, "undefined label '" + ref.name + "'");
    }
    fn_->code[ref.inst].ops[ref.operand].index = it->second;
  }
  // A body that can fall off its end, or has a label after its last instruction, gets an
  // implicit ret.
  bool label_at_end = false;
  for (auto& [name, index] : labels_)
    label_at_end |= index == fn_->code.size();
  if (label_at_end || fn_->code.empty() ||
      (fn_->code.back().op != Op::ret && fn_->code.back().op != Op::exit &&
       !(fn_->code.back().op == Op::bra && fn_->code.back().guard == kNoSlot))) {
    Inst r;
    r.op = Op::ret;
    r.family = Family::control;
    r.line = fn_->code.empty() ? fn_->line : fn_->code.back().line;
    auto [it, inserted] = mnemonic_ids_.try_emplace("ret", m_.mnemonics.size());
    if (inserted)
      m_.mnemonics.emplace_back("ret");
    r.mnemonic = it->second;
    fn_->code.push_back(r);
  }
  compute_reconvergence(*fn_);
}

} // namespace tessel::sim
