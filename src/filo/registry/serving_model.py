"""The models-from-code entry point MLflow executes when it loads a registered filo model.

`filo.registry.pyfunc.log_bundle_model` logs this file as the model's code, so loading
never unpickles Python objects; the bundle itself is the model's `bundle` artifact.
"""

from mlflow.models import set_model

from filo.registry.pyfunc import FiLoPyfuncModel

set_model(FiLoPyfuncModel())
