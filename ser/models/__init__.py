"""The model zoo: every model of the earlier RAVDESS work, built by name (`build_model`)."""
# each family module registers its models on import
from ser.models import (classical, cnn6, crepe_ft, dchung, encoder_heads,  # noqa: F401
                        fusion, ge2e_ft, inception, kaggle, panns, torchvision_models)
from ser.models.registry import InputSpec, ModelSpec, build_model, get_spec, list_models
from ser.models.weights import WeightsUnavailableError, weights_description

__all__ = ["InputSpec", "ModelSpec", "WeightsUnavailableError", "build_model", "get_spec",
           "list_models", "weights_description"]
