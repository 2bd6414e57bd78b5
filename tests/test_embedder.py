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
