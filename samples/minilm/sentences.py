"""The fixed sentence set of samples/minilm: make_reference.py, compare.py and bench.py all use it.

Each sentence is bytes (UTF-8, except the few that test invalid bytes); the reference sees
bytes.decode("utf-8", "replace"), as tokenizer.h documents. Deterministic: no randomness beyond a
seeded generator.
"""
import random

_HAND = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The new movie is awesome",
    "The cat sits outside",
    "I love pasta",
    "Do you like pizza?",
    "",
    " ",
    "\t\n\r  ",
    "hello",
    "Hello, World!",
    "HELLO WORLD!!!",
    "It's a beautiful day, isn't it?",
    "Don't stop believin' -- hold on to that feelin'.",
    "e-mail: john.doe@example.com, web: https://example.org/path?q=1&r=2#frag",
    "Prices rose 3.5% to $1,234.56 (up from €1.100,00) on 2024-03-15.",
    "C++20 concepts & templates: std::vector<int> v{1, 2, 3};",
    "unaffable unbelievably antidisestablishmentarianism",
    "Café crème brûlée à la mode, naïve façade, résumé, jalapeño, Ångström.",
    "Über straße Fußgänger Mädchen Öl",
    "ÀÉÎÕÜ àéîõü ÇçÑñ",
    "İstanbul'da ışık, Şişli ve Çağlayan.",
    "Ελληνικά: Καλημέρα κόσμε, ΣΟΦΙΑ σοφία.",
    "Русский текст: Привет, мир! Ёлка и ёж.",
    "Українська: Їжак і ґудзик.",
    "עברית: שלום עולם",
    "العربية: مرحبا بالعالم",
    "हिन्दी: नमस्ते दुनिया",
    "ภาษาไทย สวัสดีชาวโลก",
    "中文：你好，世界！我爱自然语言处理。",
    "日本語：こんにちは世界。カタカナとひらがな、漢字。",
    "한국어: 안녕하세요 세계. 한글은 아름답다.",
    "Mixed 中文 and English 混合 text.",
    "Emoji: 😀😃😄 👍🏽 ❤️ 🇫🇷 👨‍👩‍👧‍👦 🥺",
    "Math: ∑ x² ≤ ∞, √2 ≈ 1.414, α+β=γ, ∀x∈ℝ.",
    "Ligatures ﬁ ﬂ ﬀ and fullwidth ＡＢＣ １２３ ！",
    "Roman numerals Ⅻ Ⅳ and circled ① ② ③",
    "Zero\u200bwidth\u200cjoiner\u200dtest and soft\u00adhyphen",
    "Non\u00a0breaking\u2003em\u2009thin spaces\u3000ideographic",
    "Control\x01chars\x07in\x1bthe\x7ftext",
    "Tabs\tand\nnewlines\r\nmixed",
    "Combining: e\u0301 a\u0300 o\u0308 n\u0303 A\u030a",
    "Quotes “curly” ‘single’ «guillemets» „German“ — dashes – and … ellipsis",
    "Brackets [x] {y} (z) <w> and the specials [CLS] [SEP] [MASK] [PAD] [UNK] [cls]",
    "[MASK] is a special token, so is[SEP]this",
    "#hashtag @mention $ticker %percent ^caret *star _under ~tilde `tick |pipe \\back",
    "a" * 99,
    "b" * 100,
    "c" * 101,
    "supercalifragilisticexpialidocious " * 3,
    "x" * 300,
    "The quick brown fox jumps over the lazy dog. " * 40,
    "Ünïcödé " * 200,
    "日本 " * 300,
    "word " * 253,
    "word " * 254,
    "word " * 255,
    "1234567890 3.14159 2,718 1e-10 0x1F -42 +7",
    "version 1.2.3-beta+build.5",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
    "TESSEL compiles tile kernels through LLVM to PTX.",
    "Sentence embeddings map text to dense vectors.",
    "The weather today is sunny with a chance of rain.",
    "Machine learning models need lots of data.",
    "I've been waiting for this moment all my life.",
    "Who's afraid of the big bad wolf?",
    "Y'all'd've thought so.",
    "¿Dónde está la biblioteca? ¡Aquí!",
    "Ça va? Oui, ça va très bien, merci.",
    "Tiếng Việt: Xin chào thế giới",
    "Polski: Zażółć gęślą jaźń",
    "Čeština: Příliš žluťoučký kůň úpěl ďábelské ódy",
    "Dansk/Norsk: Blåbærsyltetøy og æble",
    "Íslenska: Þú ert ð",
    "Română: Știință și țară",
    "Magyar: Árvíztűrő tükörfúrógép",
]

# Bytes that are not valid UTF-8: lone continuation, truncated sequences, overlong forms,
# encoded surrogates, bytes past U+10FFFF, in words and between them.
_INVALID = [
    b"invalid \xff byte",
    b"trunc\xe2\x82ated",
    b"\xc0\xafoverlong",
    b"surrogate \xed\xa0\x80 here",
    b"past \xf4\x90\x80\x80 max",
    b"\x80\x81\x82",
    b"caf\xc3",
    b"mid\xe9word latin-1",
    b"\xf0\x9f\x98 broken emoji",
    b"ok \xe2\x9c\x93 then \xfe\xfe end",
]

_WORDS = ("the a of to and in is was for on with as by at from that this it be are model "
          "token sentence vector kernel tile compiler graph memory thread warp block run test "
          "naïve café résumé über straße 東京 北京 서울 москва αθήνα 🙂 ! ? , . ; : ( ) - ' \" "
          "don't can't 1999 3.14 42% $5 e.g. i.e. co-operate re-enter").split()


def _generated(n, seed=20261201):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.choice([1, 3, 5, 8, 12, 20, 40, 80])
        words = [rng.choice(_WORDS) for _ in range(k)]
        if i % 3 == 0:
            words = [w.capitalize() if rng.random() < 0.3 else w.upper() if rng.random() < 0.1 else w
                     for w in words]
        sep = rng.choice([" ", " ", " ", "", "  ", "\t"])
        out.append(sep.join(words))
    return out


def sentences():
    """All sentences, as bytes, in a fixed order."""
    texts = [s.encode("utf-8") for s in _HAND] + _INVALID
    texts += [s.encode("utf-8") for s in _generated(150)]
    return texts


def as_text(b):
    """What the reference is given for sentence bytes b."""
    return b.decode("utf-8", "replace")


# The few sentences whose embeddings the ctest compares: short English, accents, CJK, emoji, and
# one that truncates at 256 tokens.
EMBEDDING_CHECKS = [
    b"A man is eating food.",
    "Café crème brûlée à la mode, naïve façade, résumé, jalapeño, Ångström.".encode(),
    "中文：你好，世界！我爱自然语言处理。".encode(),
    "Emoji: 😀😃😄 👍🏽 ❤️ 🇫🇷 👨‍👩‍👧‍👦 🥺".encode(),
    b"The quick brown fox jumps over the lazy dog. " * 40,
]
