"""Never runs: this model's config.pbtxt is malformed on purpose, so Triton refuses to load it."""


class TritonPythonModel:
    def execute(self, requests):
        raise RuntimeError("unreachable: the config of broken_classifier does not parse")
