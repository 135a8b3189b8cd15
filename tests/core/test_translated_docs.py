"""README.zh.md and README.ja.md follow README.md section by section; the example workflows explain themselves in
English, Chinese and Japanese.

Adding a section to README.md: add its row to HEADINGS below (level, English, Chinese, Japanese heading, at its
place in the order) and write the section in README.zh.md and README.ja.md under those headings. Until then
test_english_readme_headings_are_all_mapped fails and names the heading.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READMES = {"en": ROOT / "README.md", "zh": ROOT / "README.zh.md", "ja": ROOT / "README.ja.md"}
TRANSLATIONS = ("zh", "ja")

# (level, README.md, README.zh.md, README.ja.md), in document order: one row per heading.
HEADINGS = [
    (1, "ComfyUI-DiffSensei", "ComfyUI-DiffSensei", "ComfyUI-DiffSensei"),
    (2, "Install", "安装", "インストール"),
    (2, "Weights", "权重", "重み"),
    (2, "Nodes", "节点", "ノード"),
    (2, "Example workflows", "示例工作流", "サンプルワークフロー"),
    (2, "Optional: the MLLM stage", "可选：MLLM 阶段", "オプション：MLLM ステージ"),
    (2, "Manga pages", "漫画页", "漫画のページ"),
    (3, "Layout, compose, export", "布局、拼合、导出", "コマ割り・合成・書き出し"),
    (3, "Lettering", "嵌字", "写植"),
    (2, "Chapters", "章节", "チャプター"),
    (2, "Prompt distributions", "提示词分布", "プロンプト分布"),
    (2, "Photo to manga", "照片转漫画", "写真から漫画へ"),
    (2, "Troubleshooting", "故障排除", "トラブルシューティング"),
    (2, "Performance", "性能", "性能"),
    (2, "On a fresh machine", "在新机器上", "新しいマシンで"),
    (2, "Security", "安全", "セキュリティ"),
    (2, "Faithfulness notes", "与官方实现的一致性", "公式実装への忠実さ"),
    (2, "License", "许可证", "ライセンス"),
]
COLUMN = {"en": 1, "zh": 2, "ja": 3}
TROUBLESHOOTING = {lang: row[COLUMN[lang]] for row in HEADINGS if row[1] == "Troubleshooting" for lang in COLUMN}

KANA = re.compile(r"[\u3040-\u30ff]")
HAN = re.compile(r"[\u4e00-\u9fff]")
HEADING = re.compile(r"^(#{1,6}) +(.+?) *$")
FENCE = "```"


def read(lang: str) -> str:
    return READMES[lang].read_text(encoding="utf-8")


def prose_lines(text: str):
    """Lines outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if line.startswith(FENCE):
            fenced = not fenced
        elif not fenced:
            yield line


def headings(text: str) -> list[tuple[int, str]]:
    return [(len(m[1]), m[2]) for line in prose_lines(text) if (m := HEADING.match(line))]


def code_blocks(text: str) -> list[list[str]]:
    """Fenced blocks, each line cut at its first run of 2+ spaces (what follows is a translatable annotation)."""
    blocks, current = [], None
    for line in text.splitlines():
        if line.startswith(FENCE):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(re.split(r"\s{2,}", line.strip())[0])
    return blocks


def code_spans_by_section(text: str) -> list[set[str]]:
    """The inline `code` of each section (the text before the first heading, then one set per heading); a span
    may wrap onto the next line, so its whitespace is compared collapsed."""
    sections: list[list[str]] = [[]]
    for line in prose_lines(text):
        if HEADING.match(line):
            sections.append([])
        else:
            sections[-1].append(line)
    return [{" ".join(span.split()) for span in re.findall(r"`([^`]+)`", "\n".join(lines))} for lines in sections]


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped (letters of any script kept), spaces → '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def section(text: str, title: str) -> str:
    """The lines of the level-2 section ``title`` (up to the next level-2 heading)."""
    lines, inside = [], False
    for line in prose_lines(text):
        if line.startswith("## "):
            inside = line[3:].strip() == title
        elif inside:
            lines.append(line)
    return "\n".join(lines)


def troubleshooting_messages(lang: str) -> list[list[str]]:
    """Per table row, the quoted English message fragments of the first column."""
    rows = [line for line in section(read(lang), TROUBLESHOOTING[lang]).splitlines() if line.startswith("| `")]
    return [re.findall(r"`([^`]+)`", row.split(" | ")[0]) for row in rows]


def test_english_readme_headings_are_all_mapped():
    expected = [(row[0], row[1]) for row in HEADINGS]
    got = headings(read("en"))
    unmapped = [h for h in got if h not in expected]
    assert not unmapped, (f"README.md headings without a translation: {unmapped}. Add each as a row of HEADINGS in "
                          f"{Path(__file__).name} and write the section in README.zh.md and README.ja.md.")
    assert got == expected, "README.md's headings changed order or were removed; update HEADINGS to match"


@pytest.mark.parametrize("lang", TRANSLATIONS)
def test_translated_readme_headings_map_one_to_one(lang):
    expected = [(row[0], row[COLUMN[lang]]) for row in HEADINGS]
    got = headings(read(lang))
    assert got == expected, f"{READMES[lang].name}: headings differ from README.md's (through HEADINGS)"


def test_readmes_link_to_each_other_at_the_top():
    for lang, path in READMES.items():
        top = "\n".join(read(lang).splitlines()[:5])
        others = [p.name for other, p in READMES.items() if other != lang]
        assert all(f"]({name})" in top for name in others), f"{path.name} must link {others} near its title"


@pytest.mark.parametrize("lang", TRANSLATIONS)
def test_translations_show_the_same_commands_and_folder_trees(lang):
    assert code_blocks(read(lang)) == code_blocks(read("en")), (
        f"{READMES[lang].name}: the code blocks differ from README.md's (commands and paths must be the same; "
        "only annotations after two spaces may be translated)")


@pytest.mark.parametrize("lang", TRANSLATIONS)
def test_translated_sections_keep_the_english_names_paths_and_values(lang):
    """Every inline `code` of an English section (file names, paths, inputs, values) is in its translation, so a
    renamed path or input in README.md makes the stale translation fail."""
    english, translated = code_spans_by_section(read("en")), code_spans_by_section(read(lang))
    titles = ["(before the first heading)", *(row[1] for row in HEADINGS)]
    lost = {title: sorted(en - tr) for title, en, tr in zip(titles, english, translated, strict=False) if en - tr}
    assert not lost, f"{READMES[lang].name} lacks README.md's inline code, by section: {lost}"


@pytest.mark.parametrize("lang", list(READMES))
def test_section_links_point_at_headings(lang):
    anchors = {github_anchor(title) for _level, title in headings(read(lang))}
    links = re.findall(r"\]\(#([^)]+)\)", read(lang))
    assert links, "each README links its sections"
    broken = [link for link in links if link not in anchors]
    assert not broken, f"{READMES[lang].name}: links to missing sections {broken}"


def test_troubleshooting_messages_are_the_code_s_messages():
    """Each message fragment of the table occurs in the pack's source (parts around … in the same file)."""
    sources = [p.read_text(encoding="utf-8") for folder in ("diffsensei_core", "nodes")
               for p in (ROOT / folder).rglob("*.py")]
    rows = troubleshooting_messages("en")
    assert len(rows) >= 20
    missing = [fragment for row in rows for fragment in row
               if not any(all(part.strip() in text for part in fragment.split("…")) for text in sources)]
    assert not missing, f"README.md Troubleshooting quotes messages the code no longer has: {missing}"


@pytest.mark.parametrize("lang", TRANSLATIONS)
def test_translated_troubleshooting_lists_the_same_messages(lang):
    assert troubleshooting_messages(lang) == troubleshooting_messages("en")


# ------------------------------------------------------------------------------------- example workflow notes


def language(text: str) -> str:
    return "ja" if KANA.search(text) else "zh" if HAN.search(text) else "en"


def ui_workflows() -> list[Path]:
    return sorted(p for p in (ROOT / "workflows").glob("*.json") if "nodes" in json.loads(p.read_text("utf-8")))


def notes(path: Path) -> list[str]:
    graph = json.loads(path.read_text(encoding="utf-8"))
    return [n["widgets_values"][0] for n in graph["nodes"] if n["type"] in ("Note", "MarkdownNote")]


@pytest.mark.parametrize("path", ui_workflows(), ids=lambda p: p.name)
def test_example_notes_speak_english_chinese_and_japanese(path):
    texts = notes(path)
    if path.stem.endswith(("_ja", "_zh")):  # one workflow per language where the captions matter
        wanted = path.stem[-2:]
        assert texts and all(language(t) == wanted for t in texts), f"every note of {path.name} in {wanted}"
        return
    by_language = {language(t): t for t in texts}
    assert set(by_language) == {"en", "zh", "ja"} and len(texts) == 3, [language(t) for t in texts]
    assert language(texts[0]) == "en", "the English note comes first"
    spans = {lang: set(re.findall(r"`([^`]+)`", t)) for lang, t in by_language.items()}
    for lang in TRANSLATIONS:
        assert spans[lang] == spans["en"], f"{lang} note: file names and code differ from the English note's"
