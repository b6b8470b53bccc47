"""The chat page's interface strings (kk / ru / en), its CSS and its one piece of JS."""

from __future__ import annotations

UI_LANGS = ("kk", "ru", "en")
UI_LANG_CHOICES = [("Қазақша", "kk"), ("Русский", "ru"), ("English", "en")]
UPLOAD_LIMIT_MB = 20

EXAMPLES = [
    ("en", "Who opened the media forum in Almaty?"),
    ("ru", "Кто организовал медиафорум в Алматы?"),
    ("kk", "Орталық Азия медиафорумы қашан өтті?"),
    ("en", "Who won the 2018 football World Cup?"),  # the documents don't say
]

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "## jauap — answers from your documents",
        "subtitle": "Ask in Kazakh, Russian or English. Every statement carries a numbered "
        "source [n]; click it to see the passage.",
        "tab_chat": "Chat",
        "tab_docs": "Documents",
        "chatbot": "Conversation",
        "question": "Your question",
        "placeholder": "Ask about the documents…",
        "send": "Ask",
        "clear": "New conversation",
        "examples": "**Try:**",
        "settings": "Settings",
        "generator": "Answer generator",
        "k": "Passages to consider",
        "endpoint": "The openai generator uses {url} (model {model}), set on the server.",
        "no_endpoint": "No OpenAI-compatible endpoint is set on the server (OPENAI_BASE_URL).",
        "duplicate": "{name} is already uploaded (as {existing}); it was not added again.",
        "renamed": "A file named {name} already exists; this one was saved as {new}.",
        "no_generator": "The generator {name} is not available here.",
        "sources": "Sources",
        "no_sources": "The sources of an answer appear here.",
        "closest": "Closest passages (the documents don't answer this)",
        "whole_doc": "Whole document",
        "truncated": "… (truncated)",
        "unsupported": "Not supported by the cited sources:",
        "date": "date",
        "no_date": "no date",
        "file": "file",
        "earlier": "Earlier question",
        "upload": f"Add documents (.txt .md .docx .pdf .html, up to {UPLOAD_LIMIT_MB} MB each)",
        "upload_btn": "Add and index",
        "docs_table": "### Indexed documents",
        "col_title": "Title",
        "col_file": "File",
        "col_lang": "Language",
        "col_chunks": "Chunks",
        "col_date": "Date",
        "col_origin": "Origin",
        "origin_upload": "uploaded",
        "origin_config": "configured folder",
        "remove_pick": "Document to remove (uploaded ones only)",
        "remove_btn": "Remove",
        "st_starting": "↻ Starting…",
        "st_indexing": "↻ Indexing the documents… {pct}% — {msg}",
        "st_ready": "✔ Ready: {docs} documents, {chunks} passages.",
        "st_error": "✖ The index could not be built: {msg}",
        "not_ready": "The index is still being built ({pct}%). Please ask again in a moment.",
        "too_large": "{name} is larger than {mb} MB and was not added.",
        "bad_type": "{name}: unsupported file type. Use .txt, .md, .docx, .pdf or .html.",
        "unreadable": "{name} could not be read: {msg}",
        "no_files": "Choose a file first.",
        "added": "Added: {names}. The index now has {docs} documents, {chunks} passages.",
        "removed": "Removed {name}. The index now has {docs} documents, {chunks} passages.",
        "cannot_remove": "{name} comes from the configured documents folder and can't be "
        "removed here; only uploaded files can.",
        "pick_first": "Choose a document first.",
        "error": "Error: {msg}",
        "internal": "Something went wrong ({kind}). The page still works; details are in "
        "the server log.",
        "note": "Note:",
        "lang_en": "English",
        "lang_ru": "Russian",
        "lang_kk": "Kazakh",
        "stage_reading": "reading documents",
        "stage_model": "loading the embedding model",
        "stage_chunks": "embedding passages",
        "stage_sentences": "embedding sentences",
    },
    "ru": {
        "title": "## jauap — ответы по вашим документам",
        "subtitle": "Спрашивайте на казахском, русском или английском. У каждого утверждения "
        "есть номер источника [n]; нажмите на него, чтобы увидеть фрагмент.",
        "tab_chat": "Чат",
        "tab_docs": "Документы",
        "chatbot": "Диалог",
        "question": "Ваш вопрос",
        "placeholder": "Спросите о документах…",
        "send": "Спросить",
        "clear": "Новый диалог",
        "examples": "**Примеры:**",
        "settings": "Настройки",
        "generator": "Генератор ответа",
        "k": "Сколько фрагментов учитывать",
        "endpoint": "Генератор openai обращается к {url} (модель {model}); это задаётся на сервере.",
        "no_endpoint": "OpenAI-совместимый сервер не настроен (OPENAI_BASE_URL).",
        "duplicate": "{name} уже загружен (как {existing}); повторно не добавлен.",
        "renamed": "Файл {name} уже есть; этот сохранён как {new}.",
        "no_generator": "Генератор {name} здесь недоступен.",
        "sources": "Источники",
        "no_sources": "Здесь появятся источники ответа.",
        "closest": "Ближайшие фрагменты (в документах ответа нет)",
        "whole_doc": "Весь документ",
        "truncated": "… (сокращено)",
        "unsupported": "Не подтверждается указанными источниками:",
        "date": "дата",
        "no_date": "без даты",
        "file": "файл",
        "earlier": "Предыдущий вопрос",
        "upload": f"Добавить документы (.txt .md .docx .pdf .html, до {UPLOAD_LIMIT_MB} МБ каждый)",
        "upload_btn": "Добавить и проиндексировать",
        "docs_table": "### Проиндексированные документы",
        "col_title": "Заголовок",
        "col_file": "Файл",
        "col_lang": "Язык",
        "col_chunks": "Фрагменты",
        "col_date": "Дата",
        "col_origin": "Откуда",
        "origin_upload": "загружен",
        "origin_config": "папка документов",
        "remove_pick": "Документ для удаления (только загруженные)",
        "remove_btn": "Удалить",
        "st_starting": "↻ Запуск…",
        "st_indexing": "↻ Индексация документов… {pct}% — {msg}",
        "st_ready": "✔ Готово: документов {docs}, фрагментов {chunks}.",
        "st_error": "✖ Не удалось построить индекс: {msg}",
        "not_ready": "Индекс ещё строится ({pct}%). Спросите ещё раз через минуту.",
        "too_large": "{name} больше {mb} МБ и не добавлен.",
        "bad_type": "{name}: неподдерживаемый тип файла. Нужны .txt, .md, .docx, .pdf или .html.",
        "unreadable": "Не удалось прочитать {name}: {msg}",
        "no_files": "Сначала выберите файл.",
        "added": "Добавлено: {names}. В индексе документов {docs}, фрагментов {chunks}.",
        "removed": "{name} удалён. В индексе документов {docs}, фрагментов {chunks}.",
        "cannot_remove": "{name} из настроенной папки документов, его нельзя удалить здесь; "
        "удалять можно только загруженные файлы.",
        "pick_first": "Сначала выберите документ.",
        "error": "Ошибка: {msg}",
        "internal": "Что-то пошло не так ({kind}). Страница работает дальше; подробности в "
        "журнале сервера.",
        "note": "Примечание:",
        "lang_en": "английский",
        "lang_ru": "русский",
        "lang_kk": "казахский",
        "stage_reading": "чтение документов",
        "stage_model": "загрузка модели эмбеддингов",
        "stage_chunks": "векторизация фрагментов",
        "stage_sentences": "векторизация предложений",
    },
    "kk": {
        "title": "## jauap — құжаттарыңыз бойынша жауаптар",
        "subtitle": "Қазақша, орысша немесе ағылшынша сұраңыз. Әр тұжырымның дереккөз нөмірі "
        "[n] бар; үзіндіні көру үшін соны басыңыз.",
        "tab_chat": "Чат",
        "tab_docs": "Құжаттар",
        "chatbot": "Сұхбат",
        "question": "Сұрағыңыз",
        "placeholder": "Құжаттар туралы сұраңыз…",
        "send": "Сұрау",
        "clear": "Жаңа сұхбат",
        "examples": "**Мысалдар:**",
        "settings": "Баптаулар",
        "generator": "Жауап генераторы",
        "k": "Қанша үзінді қарастырылады",
        "endpoint": "openai генераторы {url} мекенжайын қолданады (модель {model}); бұл серверде бапталады.",
        "no_endpoint": "OpenAI-үйлесімді сервер бапталмаған (OPENAI_BASE_URL).",
        "duplicate": "{name} бұрын жүктелген ({existing} ретінде); қайта қосылмады.",
        "renamed": "{name} атты файл бар; бұл файл {new} болып сақталды.",
        "no_generator": "{name} генераторы мұнда қолжетімсіз.",
        "sources": "Дереккөздер",
        "no_sources": "Жауаптың дереккөздері осында көрсетіледі.",
        "closest": "Ең жақын үзінділер (құжаттарда жауап жоқ)",
        "whole_doc": "Толық құжат",
        "truncated": "… (қысқартылды)",
        "unsupported": "Көрсетілген дереккөздермен расталмайды:",
        "date": "күні",
        "no_date": "күні жоқ",
        "file": "файл",
        "earlier": "Алдыңғы сұрақ",
        "upload": f"Құжат қосу (.txt .md .docx .pdf .html, әрқайсысы {UPLOAD_LIMIT_MB} МБ-қа дейін)",
        "upload_btn": "Қосу және индекстеу",
        "docs_table": "### Индекстелген құжаттар",
        "col_title": "Тақырыбы",
        "col_file": "Файл",
        "col_lang": "Тілі",
        "col_chunks": "Үзінділер",
        "col_date": "Күні",
        "col_origin": "Қайдан",
        "origin_upload": "жүктелген",
        "origin_config": "құжаттар қалтасы",
        "remove_pick": "Жойылатын құжат (тек жүктелгендер)",
        "remove_btn": "Жою",
        "st_starting": "↻ Іске қосылуда…",
        "st_indexing": "↻ Құжаттар индекстелуде… {pct}% — {msg}",
        "st_ready": "✔ Дайын: {docs} құжат, {chunks} үзінді.",
        "st_error": "✖ Индекс құрылмады: {msg}",
        "not_ready": "Индекс әлі құрылып жатыр ({pct}%). Сәлден кейін қайта сұраңыз.",
        "too_large": "{name} көлемі {mb} МБ-тан үлкен, қосылмады.",
        "bad_type": "{name}: файл түрі қолдау көрмейді. .txt, .md, .docx, .pdf не .html керек.",
        "unreadable": "{name} оқылмады: {msg}",
        "no_files": "Алдымен файл таңдаңыз.",
        "added": "Қосылды: {names}. Индексте {docs} құжат, {chunks} үзінді.",
        "removed": "{name} жойылды. Индексте {docs} құжат, {chunks} үзінді.",
        "cannot_remove": "{name} бапталған құжаттар қалтасынан, оны мұнда жоюға болмайды; "
        "тек жүктелген файлдар жойылады.",
        "pick_first": "Алдымен құжат таңдаңыз.",
        "error": "Қате: {msg}",
        "internal": "Бірдеңе дұрыс болмады ({kind}). Бет жұмысын жалғастырады; толығырақ "
        "сервер журналында.",
        "note": "Ескерту:",
        "lang_en": "ағылшын",
        "lang_ru": "орыс",
        "lang_kk": "қазақ",
        "stage_reading": "құжаттар оқылуда",
        "stage_model": "эмбеддинг моделі жүктелуде",
        "stage_chunks": "үзінділер векторлануда",
        "stage_sentences": "сөйлемдер векторлануда",
    },
}


def t(lang: str, key: str, **values: object) -> str:
    """The interface string `key` in `lang` (English when missing), formatted."""
    table = STRINGS.get(lang, STRINGS["en"])
    text = table.get(key, STRINGS["en"][key])
    return text.format(**values) if values else text


CSS = """
#jauap-sources { max-height: 78vh; overflow-y: auto !important; }
.jauap-card { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 10px; margin: 8px 0; background: var(--background-fill-secondary); }
.jauap-card.jauap-flash { outline: 3px solid #f59e0b; }
.jauap-card-head { font-weight: 600; }
.jauap-n { display: inline-block; min-width: 2em; color: #1d4ed8; }
.jauap-meta { font-size: 0.85em; opacity: 0.8; margin: 2px 0 4px 0; }
.jauap-passage { white-space: pre-wrap; margin: 6px 0; font-size: 0.92em;
  border-left: 3px solid #93c5fd; padding-left: 8px; }
.jauap-card mark, .jauap-doc mark { background: #fde68a; color: #111; padding: 0 2px; }
.jauap-doc { white-space: pre-wrap; max-height: 320px; overflow: auto; font-size: 0.88em;
  padding: 6px; border: 1px dashed var(--border-color-primary); }
.jauap-turn-q { font-style: italic; margin: 10px 0 2px 0; }
.jauap-refusal { border-left: 4px solid #dc2626; background: #fef2f2; color: #7f1d1d;
  padding: 6px 10px; border-radius: 6px; }
.jauap-unsupported { border-left: 4px solid #f59e0b; background: #fffbeb; color: #78350f;
  padding: 4px 10px; margin-top: 6px; border-radius: 6px; font-size: 0.92em; }
.jauap-error { border-left: 4px solid #dc2626; background: #fef2f2; color: #991b1b;
  padding: 6px 10px; border-radius: 6px; }
.jauap-note { font-size: 0.85em; opacity: 0.8; margin-top: 6px; }
a.jauap-cite { font-weight: 600; text-decoration: none; color: #1d4ed8; }
#jauap-status p { margin: 0; }
"""

# [n] links: scroll to the source card (opening a collapsed earlier turn) instead of
# letting the chat's markdown renderer treat them as ordinary links.
HEAD = """
<script>
document.addEventListener('click', function (event) {
  var link = event.target && event.target.closest ? event.target.closest('a.jauap-cite') : null;
  if (!link) { return; }
  event.preventDefault();
  event.stopPropagation();
  var id = (link.getAttribute('href') || '').replace(/^#/, '');
  var card = document.getElementById(id);
  if (!card) { return; }
  var turn = card.closest('details.jauap-turn');
  if (turn) { turn.open = true; }
  card.scrollIntoView({behavior: 'smooth', block: 'center'});
  card.classList.add('jauap-flash');
  setTimeout(function () { card.classList.remove('jauap-flash'); }, 1600);
}, true);
</script>
"""
