"""Ingest: incremental by content hash, one failing file never stops the batch, bad paths fail clearly."""

import os
from pathlib import Path

import pytest

from ingest import IngestInputError, bundled_corpus


def test_bundled_corpus_is_ingested_with_language_and_title(bundled_app):
    docs = {doc.doc_id: doc for doc in bundled_app.documents()}
    assert sorted(docs) == sorted(p.stem for p in bundled_corpus().glob("*.txt"))
    assert [docs[d].lang for d in sorted(docs)] == ["en", "zh", "zh", "en", "fr"]
    assert docs["001_60e2eac473953ea2"].title.startswith("重磅内幕:OpenAI将开源新模型")


def test_reingest_of_unchanged_files_embeds_nothing(bundled_app):
    report = bundled_app.ingest(progress=False)
    assert report.documents_added == 0
    assert report.documents_unchanged == 5
    assert report.chunks_embedded == 0
    assert report.chunks_total == bundled_app.status().chunks


def test_changed_file_replaces_its_old_chunks(tmp_path, app_factory):
    app = app_factory(tmp_path / "data")
    article = tmp_path / "docs" / "article.txt"
    article.parent.mkdir()
    article.write_text("Old title\n\nThe old text says the moon is made of cheese.\n", encoding="utf-8")
    app.ingest([article.parent], progress=False)
    article.write_text("New title\n\nThe new text says the moon is made of rock.\n", encoding="utf-8")
    report = app.ingest([article.parent], progress=False)
    assert (report.documents_added, report.documents_updated, report.documents_unchanged) == (0, 1, 0)
    texts = [p.chunk.text for p in app.store.search(app.embedder.embed_query("moon"), 10)]
    assert texts == ["New title\n\nThe new text says the moon is made of rock."]


def test_each_app_sees_the_documents_another_app_adds_or_removes_between_its_own_writes(tmp_path, app_factory):
    first, second = app_factory(tmp_path / "data"), app_factory(tmp_path / "data")
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in {"a": "The zeppelin landed.", "b": "The submarine docked.", "c": "The balloon rose."}.items():
        (docs / f"{name}.txt").write_text(f"Title {name}\n\n{text}\n", encoding="utf-8")

    def ids(app):
        return [d.doc_id for d in app.documents()]

    first.ingest([docs / "a.txt"], progress=False)
    assert ids(first) == ["a"]
    second.ingest([docs / "b.txt"], progress=False)
    assert ids(first) == ["a", "b"]
    first.ingest([docs / "c.txt"], progress=False)
    second.remove(str(docs / "a.txt"))
    assert ids(first) == ids(second) == ["b", "c"]
    assert first.keywords(max_age=0).search("zeppelin", 5).chunk_ids == []


def test_a_new_chunk_size_splits_unchanged_files_again_on_the_next_ingest(tmp_path, app_with_document, app_factory):
    app, path = app_with_document(
        "Zeppelins\n\nThe Hindenburg burned at Lakehurst in 1937. Airships had crossed the Atlantic for years. "
        "After the fire, nobody flew them across the ocean again. Their hangars became warehouses.\n"
    )
    before = app.status().chunks
    smaller = app_factory(tmp_path / "data", CORPUS_QA_CHUNK_CHARS="60")
    report = smaller.ingest([path], progress=False)
    assert (report.documents_updated, report.documents_unchanged) == (1, 0), "the same bytes, split anew"
    assert report.chunks_total > before
    first = smaller.ask("Where did the Hindenburg burn?").citations[0]
    assert first.text.endswith("in 1937. Airships had crossed the Atlantic for years."), "a small chunk, and the next sentence"
    assert len(smaller.keywords().chunk_ids) == report.chunks_total, "the keyword index too"
    assert smaller.ingest([path], progress=False).documents_unchanged == 1


def test_overlap_and_title_embedding_are_settings_and_split_unchanged_files_again(tmp_path, app_factory):
    path = tmp_path / "zeppelins.txt"
    path.write_text(
        "Zeppelins\n\nThe Hindenburg burned at Lakehurst in 1937. Airships had crossed the Atlantic for years. "
        "After the fire, nobody flew them across the ocean again. Their hangars became warehouses.\n", encoding="utf-8"
    )
    small = {"CORPUS_QA_CHUNK_CHARS": "120"}
    app = app_factory(tmp_path / "data", **small)
    app.ingest([path], progress=False)
    assert _overlapping(app), "by default a chunk starts with the last sentence of the one before"
    apart = app_factory(tmp_path / "data", **small, CORPUS_QA_OVERLAP_SENTENCES="0")
    assert apart.ingest([path], progress=False).documents_updated == 1, "the same bytes, split anew"
    assert not _overlapping(apart)
    untitled = {(chunk.start, chunk.end): vector for chunk, vector in apart.store.iter_chunks()}

    titled = app_factory(tmp_path / "data", **small, CORPUS_QA_OVERLAP_SENTENCES="0", CORPUS_QA_EMBED_TITLE="true")
    assert titled.ingest([path], progress=False).documents_updated == 1, "embedded anew, with the title"
    changed = [list(untitled[(chunk.start, chunk.end)]) != list(vector) for chunk, vector in titled.store.iter_chunks()]
    assert len(changed) == len(untitled) and any(changed), "the same chunks, embedded with the title in front"
    first = titled.ask("When did the Hindenburg burn?").citations[0]
    assert "1937" in first.text
    assert first.text == path.read_text(encoding="utf-8")[first.start : first.end], "what is stored stays the document's text"


def _overlapping(app) -> bool:
    """Whether some stored chunk starts before the one before it ends."""
    spans = sorted((chunk.start, chunk.end) for chunk, _ in app.store.iter_chunks())
    return any(start < previous_end for (_, previous_end), (start, _) in zip(spans, spans[1:]))


def test_binary_and_empty_files_are_reported_and_batch_goes_on(tmp_path, app_factory):
    app = app_factory(tmp_path / "data")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (docs / "empty.md").write_bytes(b"")
    (docs / "good.txt").write_text("A good article about open models.\n", encoding="utf-8")
    (docs / "picture.png").write_bytes(b"\x89PNG")
    report = app.ingest([docs], progress=False)
    assert report.documents_added == 1
    assert dict(report.failures) == {
        str(docs / "binary.txt"): "it is binary, not text",
        str(docs / "empty.md"): "it is empty",
    }
    assert [Path(path).name for path, _ in report.skipped] == ["picture.png"]


def test_a_file_emptied_or_broken_since_its_ingest_is_no_longer_cited(tmp_path, app_factory):
    app = app_factory(tmp_path / "data")
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in {"zeppelin.txt": "The zeppelin Hindenburg burned at Lakehurst in May 1937.\n",
                       "canal.txt": "The Panama Canal opened to shipping in August 1914.\n",
                       "otters.txt": "Sea otters hold hands while they sleep.\n",
                       "kept.txt": "The Eiffel Tower was finished in March 1889.\n"}.items():
        (docs / name).write_text(text, encoding="utf-8")
    app.ingest([docs], progress=False)
    (docs / "zeppelin.txt").write_bytes(b"")
    (docs / "canal.txt").write_bytes(bytes(range(256)) * 4)
    (docs / "otters.txt").write_text("Share this:\n", encoding="utf-8")  # nothing but boilerplate now
    report = app.ingest([docs], progress=False)
    assert report.documents_removed == 3 and report.documents_failed == 3
    assert all(reason.endswith("so no answer cites text the file no longer holds") for _, reason in report.failures)
    assert [d.source for d in app.documents()] == [str(docs / "kept.txt")]
    assert not app.ask("Where did the Hindenburg burn?").answerable


def test_gbk_file_is_decoded_and_its_citations_name_the_encoding(tmp_path, app_factory):
    app = app_factory(tmp_path / "data")
    text = "开源模型的新闻\n\n谷歌的一份内部文件泄露了，文件说开源模型更快、更私密而且功能更强大。\n"
    path = tmp_path / "gbk.txt"
    path.write_bytes(text.encode("gbk"))
    app.ingest([path], progress=False)
    answer = app.ask("谷歌的内部文件说开源模型怎么样？")
    citation = answer.citations[0]
    assert citation.to_json()["encoding"].lower() in ("gbk", "gb2312", "gb18030")
    assert path.read_bytes().decode(citation.encoding)[citation.start : citation.end] == citation.text


@pytest.mark.parametrize("encoding, bom", [("utf-16", b""), ("utf-16-le", b""), ("utf-16-be", b"")])
def test_utf16_text_is_decoded_and_its_citations_name_the_encoding(tmp_path, app_factory, encoding, bom):
    # Windows Notepad's "Unicode" is UTF-16 with a byte-order mark ("utf-16" writes one); the others have none.
    app = app_factory(tmp_path / "data")
    path = tmp_path / "notepad.txt"
    path.write_bytes(bom + "Canals\n\nThe Suez Canal opened in November 1869, after ten years of work.\n".encode(encoding))
    report = app.ingest([path], progress=False)
    assert report.documents_added == 1 and not report.failures
    citation = app.ask("When did the Suez Canal open?").citations[0]
    assert "November 1869" in citation.text and citation.encoding.lower().startswith("utf_16")
    assert path.read_bytes().decode(citation.encoding)[citation.start : citation.end] == citation.text


def test_a_file_whose_name_is_not_utf8_fails_alone_and_the_others_are_stored(tmp_path, app_factory):
    app = app_factory(tmp_path / "data")
    docs = tmp_path / "iso"
    docs.mkdir()
    (docs / "canal.txt").write_text("Canals\n\nThe Suez Canal opened in November 1869.\n", encoding="utf-8")
    odd = os.fsdecode(os.fsencode(docs) + b"/latin1-\xe9name.txt")
    Path(odd).write_bytes(b"Canals\n\nThe Panama Canal opened in August 1914.\n")
    report = app.ingest([docs], progress=False)
    assert report.documents_added == 1
    [(name, reason)] = report.failures
    assert name.endswith("latin1-\\xe9name.txt") and "not UTF-8" in reason
    assert "November 1869" in app.ask("When did the Suez Canal open?").citations[0].text


def test_links_that_cannot_be_read_say_why_and_every_line_names_its_file_in_full(tmp_path, app_factory, monkeypatch):
    app = app_factory(tmp_path / "data")
    docs = tmp_path / "docs"
    (docs / "elsewhere").mkdir(parents=True)
    (docs / "good.txt").write_text("A good article about open models.\n", encoding="utf-8")
    (docs / "empty.md").write_bytes(b"")
    (docs / "picture.png").write_bytes(b"\x89PNG")
    (docs / "folder-link").symlink_to(tmp_path / "data")
    (docs / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    (docs / "loop.txt").symlink_to(docs / "loop.txt")
    monkeypatch.chdir(tmp_path)
    report = app.ingest([Path("docs")], progress=False)
    assert report.documents_added == 1
    reasons = {Path(path).name: reason for path, reason in [*report.failures, *report.skipped]}
    assert reasons["loop.txt"] == "a link loop: it points back at itself"
    assert reasons["gone.txt"] == "broken link: its target is missing"
    assert reasons["folder-link"].startswith("a link to a folder, not followed")
    assert reasons["picture.png"].startswith("unsupported file type") and reasons["empty.md"] == "it is empty"
    assert all(Path(path).is_absolute() for path, _ in [*report.failures, *report.skipped])


def test_hidden_folders_are_left_out_of_a_folder_but_read_when_given_by_name(tmp_path, app_factory):
    # A notes vault: the app's settings, its trash, a git repository, macOS's "._" companions.
    vault = tmp_path / "vault"
    for hidden in (".obsidian/workspace.md", ".trash/old draft.md", "trips/.git/description.txt"):
        (vault / hidden).parent.mkdir(parents=True, exist_ok=True)
        (vault / hidden).write_text("The Warsaw Stock Exchange reopened in April 1991.\n", encoding="utf-8")
    (vault / "trips" / "._lisbon.md").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    (vault / "trips" / "lisbon.md").write_text("# Lisbon\n\nThe Tagus river flows through Lisbon.\n", encoding="utf-8")
    app = app_factory(tmp_path / "data")
    report = app.ingest([vault], progress=False)
    assert [d.title for d in app.documents()] == ["Lisbon"]
    assert report.failures == () and report.skipped == (), "hidden files are neither read nor reported"
    app.ingest([vault / ".trash"], progress=False)
    assert sorted(d.title for d in app.documents()) == ["Lisbon", "The Warsaw Stock Exchange reopened in April 1991."]


def test_a_file_given_by_name_of_a_type_not_read_fails_and_the_others_go_on(tmp_path, app_factory):
    (tmp_path / "slides.key").write_bytes(b"PK\x03\x04")
    (tmp_path / "note.txt").write_text("The Tagus river flows through Lisbon.\n", encoding="utf-8")
    report = app_factory(tmp_path / "data").ingest([tmp_path / "slides.key", tmp_path / "note.txt"], progress=False)
    assert report.documents_added == 1 and report.skipped == ()
    [(path, reason)] = report.failures
    assert path.endswith("slides.key") and reason == (
        "unsupported file type (supported: .docx, .epub, .htm, .html, .markdown, .md, .mht, .mhtml, .odt, .pdf, "
        ".pptx, .rtf, .txt, .webarchive)")


def test_missing_path_is_an_input_error_naming_it(tmp_path, app_factory):
    app = app_factory(tmp_path / "data")
    with pytest.raises(IngestInputError, match="no such file or folder: .*nowhere.txt"):
        app.ingest([tmp_path / "nowhere.txt"], progress=False)


def test_a_store_written_when_chunk_text_was_chroma_document_is_still_read(tmp_path, app_factory):
    import json
    import shutil

    import chromadb
    from chromadb.config import Settings

    app = app_factory(tmp_path / "data")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "airship.txt").write_text("Airships\n\nThe zeppelin Hindenburg burned at Lakehurst in 1937.\n",
                                                  encoding="utf-8")
    app.ingest([tmp_path / "docs"], progress=False)
    # As earlier versions stored it: the text as each chunk's Chroma document, not in its metadata.
    client = chromadb.PersistentClient(str(app.settings.store.path), settings=Settings(anonymized_telemetry=False))
    chunks = next(c for c in client.list_collections() if c.name.startswith("chunks-"))
    chunks = client.get_collection(chunks.name, embedding_function=None)
    got = chunks.get(include=["embeddings", "metadatas"])
    texts, metadatas = [], []
    for meta in got["metadatas"]:
        node = json.loads(meta["_node_content"])
        texts.append(node["metadata"].pop("text"))
        metadatas.append({"text": None, "_node_content": json.dumps(node)})
    chunks.update(ids=got["ids"], embeddings=got["embeddings"], documents=texts, metadatas=metadatas)
    shutil.rmtree(app.settings.data_dir / "keywords")  # the keyword index reads the chunks again

    reread = app_factory(tmp_path / "data")
    answer = reread.ask("When did the Hindenburg burn?")
    assert answer.answerable and "1937" in answer.citations[0].text
    assert reread.keywords().search("Lakehurst", 1).chunk_ids == [c.chunk_id for c, _ in reread.store.iter_chunks()]
