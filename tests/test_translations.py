"""The Spanish edition: complete, current, and the same code as English by construction."""

import io
import shutil

import nbformat
import pytest
from babel.messages.mofile import write_mo

from latentlab import i18n, translations
from latentlab.lessons import LESSONS, NOTEBOOKS, SOURCES
from latentlab.lessons import translate as T
from latentlab.lessons.build import language_folder

OTHER_LANGUAGES = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT]


@pytest.mark.parametrize("lang", OTHER_LANGUAGES)
def test_every_catalogue_is_complete_and_current(lang):
    """Every English paragraph, comment, literal and package message has a current translation
    (none missing, none fuzzy, none still English, no broken literal or {field})."""
    found = translations.problems(lang)
    assert not found, f"{len(found)} problem(s); `latentlab translations check --lang {lang}`:\n" + "\n".join(found[:40])


@pytest.mark.parametrize("lang", OTHER_LANGUAGES)
@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.stem for lesson in LESSONS])
def test_translated_code_equals_the_english_code(lang, lesson):
    """Cell by cell, the translated notebooks hold the English code once comments and string
    literals are set aside (an f-string's fields included)."""
    for sub, suffix in (("", ""), ("solutions", "_solutions")):
        english = NOTEBOOKS / sub / f"{lesson.stem}{suffix}.ipynb"
        other = language_folder(NOTEBOOKS, lang) / sub / f"{lesson.stem}{suffix}.ipynb"
        if not english.is_file():
            assert not other.is_file()
            continue
        a, b = nbformat.read(english, as_version=4), nbformat.read(other, as_version=4)
        assert [c.cell_type for c in a.cells] == [c.cell_type for c in b.cells], other
        for i, (x, y) in enumerate(zip(a.cells, b.cells)):
            if x.cell_type == "code":
                assert T.code_skeleton(x.source) == T.code_skeleton(y.source), f"{other.name}, cell {i}"


@pytest.mark.parametrize("lang", OTHER_LANGUAGES)
def test_catalogues_compile_as_gettext_files(lang):
    """Each .po parses, passes Babel's format checks and compiles to a .mo (what msgfmt does)."""
    paths = sorted((T.LOCALE / lang).glob("*.po")) + sorted((i18n.LOCALE / lang).glob("*.po"))
    assert len(paths) >= len(LESSONS) + 4
    for path in paths:
        catalog = T.read_catalogue(path)
        for message in catalog:  # Babel guesses `python-format` from "10 % of"; no message is %-formatted
            message.flags.discard("python-format")
        errors = [(m.id, e) for m, e in catalog.check()]
        assert not errors, f"{path.name}: {errors[:3]}"
        write_mo(io.BytesIO(), catalog)


def test_a_changed_english_paragraph_becomes_fuzzy_and_fails_the_check(tmp_path):
    """The workflow a translator meets: edit English, extract, the old translation is kept as fuzzy."""
    lesson = LESSONS[3]
    sources, locale = tmp_path / "sources", tmp_path / "locale"
    sources.mkdir()
    shutil.copy(SOURCES / f"{lesson.stem}.ipynb", sources)
    T.extract("es", [lesson], sources, locale)
    catalog = T.read_catalogue(T.catalogue_path(lesson, "es", locale))
    for message in catalog:
        if message.id:
            message.string = "traducido" if message.context == "markdown" else message.id
    T.write_catalogue(catalog, T.catalogue_path(lesson, "es", locale))
    assert T.problems(lesson, "es", sources, locale) == []

    nb = nbformat.read(sources / f"{lesson.stem}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and len(c.source) > 200)
    first = T.paragraphs(cell.source)[0]
    cell.source = cell.source.replace(first, first + " One more sentence.", 1)
    nbformat.write(nb, sources / f"{lesson.stem}.ipynb")
    T.extract("es", [lesson], sources, locale)
    found = T.problems(lesson, "es", sources, locale)
    assert len(found) == 1 and "fuzzy" in found[0], found


def test_paragraphs_keep_fences_and_display_maths_whole():
    text = "Intro line\nsecond line\n\n```python\nx = 1\n\ny = 2\n```\n\n$$\na\n\nb\n$$\n\nEnd."
    assert T.paragraphs(text) == ["Intro line\nsecond line", "```python\nx = 1\n\ny = 2\n```", "$$\na\n\nb\n$$", "End."]


def test_only_readable_literals_and_comments_are_units():
    source = ('model = load("ldm-shapes")  # the course\'s model\nprint(f"PSNR {psnr:.1f} dB is good")\n'
              'x = {"top left": 1}\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\n')
    kinds = [(k, t) for k, t, _, _ in T.code_units(source)]
    assert kinds == [("comment", "# the course's model"), ("string", 'f"PSNR {psnr:.1f} dB is good"'),
                     ("string", '"top left"')]


@pytest.mark.parametrize("english, translated, ok", [
    ('f"PSNR {psnr:.1f} dB"', 'f"PSNR de {psnr:.1f} dB"', True),
    ('f"PSNR {psnr:.1f} dB"', 'f"PSNR de {psnr:.2f} dB"', False),     # a field changed
    ('f"PSNR {psnr:.1f} dB"', '"PSNR de {psnr:.1f} dB"', False),      # the prefix dropped
    ('"a red circle"', "'un círculo rojo'", False),                   # other quotes
    ('"a red circle"', '"un círculo" + "rojo"', False),               # code, not one literal
    ('"""A docstring here."""', '"""Una docstring aquí."""', True),
])
def test_a_translated_literal_keeps_prefix_quotes_and_fields(english, translated, ok):
    if ok:
        T.check_literal(english, translated)
    else:
        with pytest.raises(T.TranslationError):
            T.check_literal(english, translated)


def test_translate_code_changes_only_comments_and_literals():
    from babel.messages.catalog import Catalog

    catalog = Catalog(locale="es")
    catalog.add("# show the result", "# muestra el resultado", context="comment")
    catalog.add('f"{n} steps in total"', 'f"{n} pasos en total"', context="string")
    source = 'n = 3  # show the result\nprint(f"{n} steps in total", n)'
    out = T.translate_code(source, catalog)
    assert out == 'n = 3  # muestra el resultado\nprint(f"{n} pasos en total", n)'
    assert T.code_skeleton(out) == T.code_skeleton(source)


@pytest.mark.parametrize("code, expected", [("es", "es"), ("es_ES.UTF-8", "es"), ("es-MX", "es"), ("EN", "en")])
def test_language_codes_are_normalised(code, expected):
    assert i18n.normalise(code) == expected


def test_an_unknown_language_lists_the_available_ones(monkeypatch):
    monkeypatch.setenv("LATENTLAB_LANG", "fr")
    with pytest.raises(i18n.UnknownLanguage, match=r"en \(English\), es \(español\)"):
        i18n.language()


def test_a_kernel_in_a_spanish_notebook_folder_speaks_spanish(monkeypatch, tmp_path):
    monkeypatch.delenv("LATENTLAB_LANG", raising=False)
    for folder, lang in (("notebooks/es", "es"), ("notebooks/es/solutions", "es"), ("notebooks", "en"),
                         ("notebooks/solutions", "en")):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(tmp_path / folder)
        assert i18n.language() == lang, folder


def test_tr_translates_in_spanish_and_not_in_english(monkeypatch):
    monkeypatch.setenv("LATENTLAB_LANG", "es")
    assert i18n.tr("## About this lesson") == "## Sobre esta lección"
    monkeypatch.setenv("LATENTLAB_LANG", "en")
    assert i18n.tr("## About this lesson") == "## About this lesson"


def test_the_spanish_lesson_map_is_in_spanish():
    from latentlab.lessons import lesson_table

    table = lesson_table(lang="es")
    assert "| cuaderno | lección | qué aprendes |" in table
    assert not any(translations.looks_english(line) for line in table.splitlines())


@pytest.mark.parametrize("lang", list(i18n.LANGUAGES))
def test_every_relative_link_in_the_notebooks_resolves(lang):
    """A Spanish notebook sits one folder deeper: its links to docs/ (notation, glossary) must still work."""
    import re

    folder = language_folder(NOTEBOOKS, lang)
    paths = [p for p in folder.rglob("*.ipynb") if lang != i18n.DEFAULT or "es" not in p.relative_to(folder).parts]
    assert paths
    for path in paths:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", cell.source):
                if "://" in target or target.startswith("mailto:"):
                    continue
                assert (path.parent / target).exists(), f"{path.relative_to(NOTEBOOKS)}: broken link {target}"
