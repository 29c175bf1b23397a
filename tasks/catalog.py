"""Standard changes must match a pre-approved template of the catalog."""

from prefect import get_run_logger, task

from changeflow.domain.catalog import Catalog, CatalogMatch, match_standard
from changeflow.domain.request import ChangeRequest
from tasks._common import NO_RETRY


@task(name="check-catalog", **NO_RETRY)
def check_catalog(catalog: Catalog, request: ChangeRequest) -> CatalogMatch:
    match = match_standard(request, catalog)
    get_run_logger().info(match.reason)
    return match
