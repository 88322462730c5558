import os
from pathlib import Path

import pytest
import torch

SHARED = Path(os.environ.get("MLIC_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
FIXTURES = SHARED / "fixtures" / "official"


def need_shared(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"shared test data not found at {path} (set MLIC_SHARED)")
    return path


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
