"""Latin → Cyrillic transliteration of English words, so an English question's "Almaty"
or "photosynthesis" can meet «Алматы» and «фотосинтез» in Kazakh and Russian passages
through BM25: one spelling for names, a few alternatives for loanwords."""

from __future__ import annotations

import re

# A lowercase Russian or Kazakh word (what transliterated English words are matched against).
CYRILLIC_WORD = re.compile(r"[а-яёәғқңөұүһі]+")

# Longest first: digraphs of the usual English spellings of Kazakh and Russian names.
_PAIRS = (
    ("shch", "щ"), ("sh", "ш"), ("ch", "ч"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"),
    ("ya", "я"), ("yu", "ю"), ("yo", "ё"), ("ye", "е"),
    ("a", "а"), ("b", "б"), ("c", "к"), ("d", "д"), ("e", "е"), ("f", "ф"), ("g", "г"),
    ("h", "х"), ("i", "и"), ("j", "ж"), ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"),
    ("o", "о"), ("p", "п"), ("q", "қ"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"),
    ("v", "в"), ("w", "у"), ("x", "кс"), ("y", "ы"), ("z", "з"),
)  # fmt: skip


def latin_to_cyrillic(word: str) -> str:
    """`word` lowercased and written in Cyrillic letter by letter (digits and other
    characters kept): "Almaty" → "алматы", "Zhambyl" → "жамбыл"."""
    word, out, i = word.lower(), [], 0
    while i < len(word):
        for latin, cyrillic in _PAIRS:
            if word.startswith(latin, i):
                out.append(cyrillic)
                i += len(latin)
                break
        else:
            out.append(word[i])
            i += 1
    return "".join(out)


# Latin letters whose Cyrillic rendering depends on the word's origin: "chromosome" →
# хромосома but "Chechnya" → Чечня, "cell" → целл but "cat" → кат, "system" → система.
# Longest first; everything else is written as in _PAIRS.
_ALTERNATIVES = (
    ("ch", ("х", "ч")), ("ph", ("ф",)), ("th", ("т",)), ("sh", ("ш",)), ("zh", ("ж",)),
    ("kh", ("х",)), ("ts", ("ц",)), ("ya", ("я",)), ("yu", ("ю",)), ("ee", ("и",)),
    ("ou", ("у",)), ("c", ("к", "ц", "с")), ("x", ("кс",)), ("w", ("в", "у")),
    ("y", ("и",)), ("h", ("х", "")), ("j", ("ж", "дж")), ("q", ("к",)),
)  # fmt: skip
_SINGLE = dict(_PAIRS)


def latin_to_cyrillic_variants(word: str, limit: int = 8) -> set[str]:
    """The usual Cyrillic spellings of an English (often Greek or Latin) loanword, at most
    `limit`: "photosynthesis" → {"фотосинтесис"}, "chromosome" → {"хромосоме", "чромосоме"}.
    Meant for matching word beginnings, where the ending does not matter."""
    word, outs, i = word.lower(), [""], 0
    while i < len(word):
        for latin, options in _ALTERNATIVES:
            if word.startswith(latin, i):
                outs = [o + c for o in outs for c in options][:limit]
                i += len(latin)
                break
        else:
            outs = [o + _SINGLE.get(word[i], word[i]) for o in outs]
            i += 1
    return set(outs)
