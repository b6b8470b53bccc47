"""What answers say in the asker's language (kk, ru, en): refusals, lead-ins, notes.

The one home for these sentences: the extractive answerer writes them, the LLM prompts
quote the refusal to the model, and the assistant recognises it in a model's reply."""

from __future__ import annotations

from rag.text.markers import strip_markers

LANGS = ("kk", "ru", "en")

REFUSAL = {
    "en": "The documents don't say.",
    "ru": "В документах об этом не сказано.",
    "kk": "Құжаттарда бұл туралы айтылмаған.",
}
CLOSEST = {
    "en": "The closest passages are listed below.",
    "ru": "Ниже — наиболее близкие фрагменты.",
    "kk": "Төменде ең жақын үзінділер берілген.",
}
LEAD = {
    "en": "According to “{title}”{meta}:",
    "ru": "Согласно документу «{title}»{meta}:",
    "kk": "«{title}» құжатына сәйкес{meta}:",
}
# The same lead-in for a source without a title (no empty «» in the answer).
LEAD_UNTITLED = {"en": "According to the document{meta}:", "ru": "Согласно документу{meta}:",
                 "kk": "Құжатқа сәйкес{meta}:"}
ALSO = {"en": "Also:", "ru": "Также:", "kk": "Сондай-ақ:"}
# How a document language is named inside an answer in each asker's language.
LANG_NAMES = {
    "en": {"en": "in English", "ru": "in Russian", "kk": "in Kazakh"},
    "ru": {"en": "на английском", "ru": "на русском", "kk": "на казахском"},
    "kk": {"en": "ағылшын тілінде", "ru": "орыс тілінде", "kk": "қазақ тілінде"},
}
FALLBACK_NOTE = {
    "en": "The language model could not answer; this is the offline answer.",
    "ru": "Языковая модель не смогла ответить; показан офлайн-ответ.",
    "kk": "Тіл моделі жауап бере алмады; офлайн жауап көрсетілді.",
}


def lang_or_en(lang: str) -> str:
    """`lang` if answers have strings for it, else English."""
    return lang if lang in REFUSAL else "en"


def refusal_text(lang: str) -> str:
    """The refusal shown to the user: "the documents don't say" plus the closest-passages note."""
    lang = lang_or_en(lang)
    return f"{REFUSAL[lang]} {CLOSEST[lang]}"


def lang_note(question_lang: str, doc_lang: str) -> str:
    """"in Kazakh" etc. when a quote is in another language than the question, else ""."""
    if question_lang == doc_lang:
        return ""
    return LANG_NAMES[lang_or_en(question_lang)].get(doc_lang, doc_lang)


_REFUSAL_STARTS = tuple(r.lower().rstrip(".") for r in REFUSAL.values())


def is_refusal(text: str) -> bool:
    """Whether an answer (markers removed) is empty or opens with a refusal sentence in any
    of the three languages: models sometimes refuse in the sources' language."""
    body = strip_markers(text).strip().lower()
    return not body or body.startswith(_REFUSAL_STARTS)
