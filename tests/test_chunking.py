"""Chunks are exact, ordered spans of the document, split at sentence ends in all three languages."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest import bundled_corpus
from ingest.chunking import following_sentence_end, split_into_chunks
from ingest.clean import find_content_spans
from ingest.pipeline import make_chunks
from ingest.readers import read_document
from ingest.settings import IngestSettings
from ingest.text import split_sentences, text_width

# Letters, digits and punctuation of English, French and Chinese text, plus line breaks.
_ALPHABET = st.sampled_from(
    list("abcxyzABCXYZ éèàçœÉ 0123456789 ,.;:!?'\"«» 开源模型大语言谷歌泄露文件。！？；，「」\n\n\r\t")
)


def sentences_of(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@settings(max_examples=300, deadline=None)
@given(text=st.text(_ALPHABET, max_size=1500), max_chars=st.integers(20, 500))
def test_chunks_are_exact_ordered_spans_for_any_text(text, max_chars):
    spans = find_content_spans(text).spans
    chunks = split_into_chunks(text, spans, max_chars=max_chars, overlap_sentences=1)
    starts = [start for start, _ in chunks]
    assert starts == sorted(starts), "chunks keep document order"
    for start, end in chunks:
        piece = text[start:end]
        assert 0 <= start < end <= len(text)
        assert piece == piece.strip(), "chunks carry no leading or trailing whitespace"
        assert end - start <= max_chars
        if text_width(text, start, end) > max_chars:
            assert len(split_sentences(text, start, end)) == 1, "only a cut-up long sentence may be wider"
        assert any(s <= start and end <= e for s, e in spans), "a chunk never leaves a cleaned span"
    covered = set()
    for start, end in chunks:
        covered.update(range(start, end))
    for s, e in spans:
        assert all(i in covered for i in range(s, e) if not text[i].isspace()), "no kept text is lost"


def test_chinese_text_splits_at_chinese_end_punctuation():
    text = "谷歌的内部文件泄露了。开源模型更快！真的吗？是的；没错"
    assert sentences_of(text) == ["谷歌的内部文件泄露了。", "开源模型更快！", "真的吗？", "是的；", "没错"]


def test_french_question_mark_after_a_space_ends_a_sentence():
    text = "Qui a-t-il touché ? La réponse est simple. Un fabricant."
    assert sentences_of(text) == [
        "Qui a-t-il touché ?",
        "La réponse est simple.",
        "Un fabricant.",
    ]


def test_decimal_numbers_and_lowercase_continuations_do_not_split():
    text = "GPT-3.5 costs 2.5 dollars vs. a little. Next sentence."
    assert sentences_of(text) == ["GPT-3.5 costs 2.5 dollars vs. a little.", "Next sentence."]


def test_a_number_after_an_abbreviation_does_not_start_a_sentence():
    text = "Kenya ratified Convention No. 81 in 1964. It came into force on Jan. 5. 1965 was calm. Dr. Kenyatta spoke."
    assert sentences_of(text) == [
        "Kenya ratified Convention No. 81 in 1964.",
        "It came into force on Jan. 5.",
        "1965 was calm.",
        "Dr. Kenyatta spoke.",
    ]


def test_a_name_after_an_initial_or_a_title_does_not_start_a_sentence():
    text = "Nixon named William E. Simon. M. Macron et Mme Dupont ont parlé. It ended with World War I. Then peace."
    assert sentences_of(text) == [
        "Nixon named William E. Simon.",
        "M. Macron et Mme Dupont ont parlé.",
        "It ended with World War I.",
        "Then peace.",
    ]


def test_a_line_ending_with_an_initial_still_ends_its_sentence():
    assert sentences_of("- Plan B.\n- Plan C.") == ["- Plan B.", "- Plan C."]


def test_a_list_item_number_does_not_end_a_sentence():
    text = ("谷歌仍有两个优势。\n\n  1. 如果谷歌利用用户数据，表现会更好。\n"
            "  2. Search runs cheaply. It scales.\nWe are at version 2. It works.")
    assert sentences_of(text) == [
        "谷歌仍有两个优势。",
        "1. 如果谷歌利用用户数据，表现会更好。",
        "2. Search runs cheaply.",
        "It scales.",
        "We are at version 2.",
        "It works.",
    ]


def test_a_hard_wrapped_paragraph_is_split_into_whole_sentences():
    text = ("Notes on the exchange\n"
            "The Warsaw Stock Exchange was closed during the war and reopened in\n"
            "April 1991, after the fall of communism. Its first session listed five\n"
            "companies, and trading took place once a week in a building of the\n"
            "Communist Party.\n"
            "- one session a week\n"
            "Five companies\n\n"
            "华沙证券交易所于一九九一年四月重新开放，这是共产主义制度结束之后的第一个交易所，\n"
            "起初只有五家公司上市，交易每周只进行一次，地点在原来的波兰共产党中央委员会大楼。\n"
            "十年之后它成为该地区最大的交易所。")
    assert sentences_of(text) == [
        "Notes on the exchange",  # a heading: its next word would have fit on its line
        "The Warsaw Stock Exchange was closed during the war and reopened in\n"
        "April 1991, after the fall of communism.",  # "April" would not have fit
        "Its first session listed five\ncompanies, and trading took place once a week in a building of the\n"
        "Communist Party.",
        "- one session a week",  # a list item opens its own line
        "Five companies",
        "华沙证券交易所于一九九一年四月重新开放，这是共产主义制度结束之后的第一个交易所，\n"
        "起初只有五家公司上市，交易每周只进行一次，地点在原来的波兰共产党中央委员会大楼。",
        "十年之后它成为该地区最大的交易所。",
    ]


def test_a_hard_wrapped_quotation_goes_on_behind_its_marks():
    from ingest.text import readable

    text = ("> The most dangerous phrase in the language is we have always done it\n"
            "> this way, said the admiral to a room of officers in 1976. She meant it.\n"
            "> > A reply quoted inside it, which is another quotation, ends at its line\n"
            "> break.")
    assert [readable(s) for s in sentences_of(text)] == [
        "> The most dangerous phrase in the language is we have always done it this way, said the admiral "
        "to a room of officers in 1976.",
        "She meant it.",
        "> > A reply quoted inside it, which is another quotation, ends at its line",
        "> break.",
    ]


def test_a_wrapped_sentence_is_shown_on_one_line():
    from ingest.text import unwrapped

    assert unwrapped("reopened in\nApril 1991, a state-of-the-\nart system and its informa-\n  tion.") == (
        "reopened in April 1991, a state-of-the-art system and its informa-tion.")
    assert unwrapped("华沙证券交易所于一九九一年\n四月重新开放，共有 5\nfirms。") == "华沙证券交易所于一九九一年四月重新开放，共有 5 firms。"


def test_a_note_s_links_and_highlights_read_as_their_text():
    from ingest.text import readable

    assert readable("Met [[Maria Lopez]] and [[Tom Becker|Tom]] about the\n==security review== (a == b).") == (
        "Met Maria Lopez and Tom about the security review (a == b).")
    assert readable("See the [Falcon report](https://example.org/f \"PDF\") for its data.[^2] ![logo](l.png)") == (
        "See the Falcon report for its data. ![logo](l.png)")


def test_lines_that_each_hold_a_paragraph_are_not_joined():
    text = "A short title\nThe first paragraph, on one line, ends here.\nA line without a full stop\nThe next one."
    assert sentences_of(text) == ["A short title", "The first paragraph, on one line, ends here.",
                                  "A line without a full stop", "The next one."]


@pytest.mark.parametrize("fields", [
    ["Founded: 2021", "Headquarters: San Francisco, California, United States of America", "CEO: Dario Amodei"],
    ["作者：尤瓦尔·赫拉利", "出版年份：2011年", "译者：林俊宏"],
    ["ACME Corporation", "12 Harbour Street", "Springfield"],
])
def test_short_lines_of_a_note_or_an_address_each_end_where_they_do(fields):
    assert sentences_of("\n".join(fields)) == fields


def test_chunks_overlap_by_one_sentence():
    text = "One sentence here. Two sentence here. Three sentence here. Four sentence here."
    chunks = [text[s:e] for s, e in split_into_chunks(text, [(0, len(text))], max_chars=40)]
    assert chunks == [
        "One sentence here. Two sentence here.",
        "Two sentence here. Three sentence here.",
        "Three sentence here. Four sentence here.",
    ]


def test_chinese_chunks_are_measured_in_display_width():
    text = "开源模型更快。" * 20  # 140 characters, 7 per sentence, 14 wide
    chunks = split_into_chunks(text, [(0, len(text))], max_chars=100, overlap_sentences=0)
    assert [e - s for s, e in chunks] == [49, 49, 42]
    assert all(text_width(text, s, e) <= 100 for s, e in chunks)


def test_a_chunk_keeps_the_short_sentence_after_it_but_nothing_cleaning_left_out():
    kept_after = 0
    for path in sorted(bundled_corpus().iterdir()):
        decoded = read_document(path, 10_000_000)
        spans = find_content_spans(decoded.text).spans
        for chunk in make_chunks("doc", str(path), decoded, IngestSettings()).chunks:
            end = chunk.end + len(chunk.following)
            assert decoded.text[chunk.end : end] == chunk.following
            assert any(s <= chunk.start and end <= e for s, e in spans), "within the kept span of its chunk"
            assert text_width(decoded.text, chunk.end, end) <= 300
            kept_after += bool(chunk.following)
    assert kept_after >= 50, "most chunks are followed by a short sentence"


def test_the_sentence_kept_after_a_chunk_is_never_the_heading_of_the_next_section():
    text = "Intro line here. More text.\n\n## Budget\n\nThe budget is 4 euros."
    assert text[16 : following_sentence_end(text, 16, len(text), 300)] == " More text."
    assert following_sentence_end(text, 27, len(text), 300) == 27
