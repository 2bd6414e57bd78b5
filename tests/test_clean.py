"""Boilerplate and repeated text are left out of chunks; offsets still point into the original."""

from pathlib import Path

from ingest import bundled_corpus
from ingest.clean import find_content_spans

CORPUS = bundled_corpus()


def kept_text(text: str) -> str:
    return "\n".join(text[s:e] for s, e in find_content_spans(text).spans)


def test_comment_widget_and_template_placeholders_are_left_out():
    text = (CORPUS / "001_60e2eac473953ea2.txt").read_text(encoding="utf-8")
    kept = kept_text(text)
    assert "UC Berkeley的计算机教授Ion Stoica" in kept
    for boilerplate in ("{{author}}", "条回复", "还没有人赞赏"):
        assert boilerplate in text and boilerplate not in kept


def test_stray_markup_line_is_left_out():
    text = (CORPUS / "003_80d0b2240b685e2e.txt").read_text(encoding="utf-8")
    assert text.startswith("“`html")
    assert kept_text(text).startswith("The Rising Tide of Open-Source AI")


def test_related_downloads_list_is_left_out():
    text = (CORPUS / "002_9ea95638bbf7ccf3.txt").read_text(encoding="utf-8")
    kept = kept_text(text)
    assert "开源模型更快、支持深度定制、更私密且功能更强大" in kept
    assert "Sublime Text" in text and "Sublime Text" not in kept


def test_site_slogans_in_the_page_footer_are_left_out_with_it():
    text = (CORPUS / "002_9ea95638bbf7ccf3.txt").read_text(encoding="utf-8")
    kept = kept_text(text)
    assert kept.rstrip().endswith("但这并不能帮助他们建造护城河。"), "the article's last sentence is kept"
    for slogan in ("优秀的个人博客,低调大师", "低调大师中文资讯倾力打造"):
        assert slogan in text and slogan not in kept


def test_an_article_with_a_share_line_near_its_end_keeps_its_last_paragraphs():
    article = "\n\n".join(f"Paragraph {i} says something long enough to be article text, in a full sentence."
                           for i in range(6))
    text = f"Title\n\n{article}\n\nShare\n\nA closing paragraph that is still part of the article, at length.\n"
    kept = kept_text(text)
    assert "A closing paragraph" in kept and "Paragraph 5" in kept and "Share" not in kept


def test_the_article_s_own_sentences_about_copyright_shares_and_comments_are_kept():
    article = [
        "The copyright lawsuit filed by the New York Times claims that millions of articles were used.",
        "Share prices of Microsoft fell by two percent after the filing, before recovering that week.",
        "The regulator received 300 comments from the public before it ruled on the case in March.",
        "该文章被多家媒体转载，引发了关于版权的广泛讨论，法院将在明年三月开庭审理此案。",
    ]
    furniture = ["Share this article", "12 comments", "Copyright © 2023 ACME Media. All rights reserved.",
                 "转载请注明出处"]
    text = "Lawsuits against AI labs\n\n" + "\n".join(article) + "\n\n" + "\n".join(furniture) + "\n"
    kept = kept_text(text)
    assert all(sentence in kept for sentence in article)
    assert not any(line in kept for line in furniture)


def test_markdown_images_and_html_comments_are_left_out():
    text = ("# Benchmark results\n\n"
            "![Figure 1: Accuracy of the three models](images/fig1.png)\n"
            "[![build](https://img.shields.io/badge/build-green)](https://ci.example.org) ![[Pasted image 1.png]]\n\n"
            "<!-- TODO: update the numbers after the rerun -->\n<!--\na note kept\nfor later -->\n"
            "The new model reaches 91 percent accuracy on the benchmark, four points above the last one.\n")
    kept = kept_text(text)
    assert kept == "# Benchmark results\nThe new model reaches 91 percent accuracy on the benchmark, four points above the last one."


def test_a_pdf_page_s_number_is_left_out_but_a_sentence_about_a_page_is_kept():
    text = ("Annual report\n\nRevenue grew by twelve percent in 2023, driven by the new storage line.\nPage 1 of 3\n"
            "The board approved a dividend.\npage 2 sur 3\n第2页 共3页\nThe page 3 of the contract sets the price.\n")
    kept = kept_text(text)
    assert "The page 3 of the contract sets the price." in kept and "dividend" in kept
    assert not any(number in kept for number in ("Page 1 of 3", "page 2 sur 3", "第2页"))


def test_a_markdown_table_stays_one_with_its_header_row_but_a_rule_still_parts_sections():
    text = ("Revenue by region in 2023:\n\n| Region | Revenue |\n|---|:---:|\n| Europe | 4.2 million euros |\n"
            "| Asia | 1.1 million euros |\n\n---\n\nThe board approved a dividend.\n")
    spans = [text[start:end] for start, end in find_content_spans(text).spans]
    assert spans == ["Revenue by region in 2023:\n\n| Region | Revenue |\n|---|:---:|\n| Europe | 4.2 million euros |\n"
                     "| Asia | 1.1 million euros |", "The board approved a dividend."]


def test_duplicated_french_text_is_kept_once():
    text = (CORPUS / "004_ffe0c9b88f98e370.txt").read_text(encoding="utf-8")
    sentence = "En mars de cette année, Meta a publié Llama"
    assert text.count(sentence) == 2
    assert kept_text(text).count(sentence) == 1


def test_title_is_the_first_line_of_article_text():
    text = (CORPUS / "003_80d0b2240b685e2e.txt").read_text(encoding="utf-8")
    assert find_content_spans(text).title == "The Rising Tide of Open-Source AI: A Threat to OpenAI’s Dominance?"


def test_spans_point_into_the_original_text(tmp_path: Path):
    text = "Title line\r\n\r\nFirst paragraph.\r\nShare this article\r\nLast paragraph.\r\n"
    spans = find_content_spans(text).spans
    assert [text[s:e] for s, e in spans] == ["Title line\r\n\r\nFirst paragraph.", "Last paragraph."]
