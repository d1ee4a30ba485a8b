"""Reference implementations of the classic conv nets, built from :mod:`convkernels.nn`.

    >>> from convkernels import models
    >>> models.list_models()[:3]
    >>> net = models.get_model("resnet50", backend="auto").eval()

Networks torchvision or timm also ship load their ``state_dict`` through
:func:`convert_state_dict` (documented key maps; see each module) and give the same logits.
"""

from . import (  # noqa: F401
               alexnet,
               decoder,
               deconvnet,
               deepface,
               densenet,
               googlenet,
               inception,
               inception_v4,
               lenet,
               mnist,
               nin,
               resnet,
               spp,
               vgg,
               xception,  # (each registers its networks)
)
from ._registry import (
               ModelInfo,
               convert_state_dict,
               get_model,
               list_models,
               model_info,
               reference_model,
)
from ._summary import ModelRow, format_summary, summary

__all__ = ["list_models", "get_model", "model_info", "convert_state_dict", "reference_model",
           "ModelInfo", "summary", "format_summary", "ModelRow"]
