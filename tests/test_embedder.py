"""Any sentence-transformers model given by path works, offline, without mixing vectors."""

import pytest

from ingest import EmbedderError, load_embedder


def test_sentence_transformers_model_by_path_answers_questions(tmp_path, app_factory, minilm_path):
    app = app_factory(tmp_path / "data", CORPUS_QA_EMBEDDER=minilm_path)
    assert app.embedder.name.startswith("st-model-") and app.embedder.dimension == 384
    app.ingest(progress=False)
    answer = app.ask("Which image generation model is comparable to DALL-E 3 and Midjourney?")
    assert "Stable Diffusion" in answer.citations[0].text


def test_each_embedder_has_its_own_collection(tmp_path, app_factory, minilm_path):
    data = tmp_path / "data"
    use = app_factory(data)
    use.ingest(progress=False)
    minilm = app_factory(data, CORPUS_QA_EMBEDDER=minilm_path)
    assert minilm.status().chunks == 0, "vectors of another model are never searched"
    assert minilm.ingest(progress=False).chunks_embedded == use.status().chunks


def test_model_name_not_on_disk_fails_without_downloading():
    with pytest.raises(EmbedderError, match="cannot load the sentence-transformers model 'no-such/model' from disk"):
        load_embedder("no-such/model")


def test_the_default_embedder_reads_the_tokenizer_an_earlier_process_kept(bundled_app):
    import numpy as np

    from ingest.settings import DEFAULT_EMBEDDER

    texts = ["Who created Chatbot Arena?", "华沙证券交易所什么时候恢复运营？", "Quand Meta a-t-il publié Llama ?"]
    expected = bundled_app.embedder.embed_documents(texts)  # the session's embedder has parsed and kept it
    [kept] = bundled_app.settings.cache_dir.glob("use-tokenizer-*.pkl")
    written = kept.stat().st_mtime_ns
    # As another process would: another embedder (one thread), given the same cache dir.
    again = load_embedder(DEFAULT_EMBEDDER, 1, bundled_app.settings.cache_dir)
    assert np.allclose(again.embed_documents(texts), expected, atol=1e-5)
    assert kept.stat().st_mtime_ns == written, "read, not parsed and written again"


def test_the_default_embedder_embeds_though_its_cache_dir_cannot_be_written(tmp_path, bundled_app):
    import numpy as np

    from ingest.settings import DEFAULT_EMBEDDER

    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    embedder = load_embedder(DEFAULT_EMBEDDER, 1, tmp_path / "a-file" / "cache")
    texts = ["Who created Chatbot Arena?"]
    assert np.allclose(embedder.embed_documents(texts), bundled_app.embedder.embed_documents(texts), atol=1e-5)
