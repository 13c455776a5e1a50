"""Every service's FastAPI app serves its API pages' scripts and styles itself (no CDN)."""

import re

from fastapi.testclient import TestClient

from demetra_common.ops import service_app

ASSET = re.compile(r"""(?:src|href)="([^"]+\.(?:js|css))\"""")


def test_docs_and_redoc_load_only_assets_the_app_serves() -> None:
    client = TestClient(service_app(title="t"))
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = ASSET.findall(html)
        assert assets, f"{page} names no script or stylesheet"
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 1000, asset
