"""Settings -> the text-embedding schema Dify reads (context size, texts per call)."""

from __future__ import annotations

from dify_plugin.entities.model import AIModelEntity, ModelFeature, ModelPropertyKey, ModelType

from oai_bridge.config.settings import Settings
from oai_bridge.embeddings.embed import PARALLEL_BATCHES
from oai_bridge.embeddings.multimodal import takes_images
from oai_bridge.entity import model_entity

__all__ = ["embedding_schema", "texts_per_call"]

# One Dify call's vectors travel back in one stdout frame, and the daemon kills a plugin whose
# line exceeds 5 MiB: keep frames well below it. A float costs up to ~24 bytes as JSON.
FRAME_BUDGET = 3 * 1024 * 1024
JSON_BYTES_PER_FLOAT = 24
# Vector size assumed until one is known (form `dimensions`, or detected at validation).
ASSUMED_DIMENSIONS = 4096


def texts_per_call(settings: Settings) -> int:
    """Texts Dify may send in one call: several server batches, capped by the frame budget."""
    dims = settings.dimensions or settings.detected.dimensions or ASSUMED_DIMENSIONS
    by_frame = FRAME_BUDGET // (dims * JSON_BYTES_PER_FLOAT)
    # As many texts as the batches one call sends at once (more would only queue).
    return max(1, min(settings.max_chunks * PARALLEL_BATCHES, by_frame))


def embedding_schema(settings: Settings) -> AIModelEntity:
    # Dify offers images (multimodal embeddings) only to models declaring vision.
    features = [ModelFeature.VISION] if takes_images(settings) else []
    properties = {
        ModelPropertyKey.CONTEXT_SIZE: settings.effective_context_size,
        ModelPropertyKey.MAX_CHUNKS: texts_per_call(settings),
    }
    return model_entity(settings, ModelType.TEXT_EMBEDDING, properties, features=features)
