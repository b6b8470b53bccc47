"""Latin → Cyrillic transliteration of names, so an English question's "Almaty" or
"Abai" can meet «Алматы» and «Абай» in Kazakh and Russian passages through BM25."""

from __future__ import annotations

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
