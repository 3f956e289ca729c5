"""What the simulated and the real testbed share: `async with`, and their clouds.yaml."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from openstackoid.testbed.clouds_yaml import CloudLike, clouds_yaml_document, write_clouds_yaml


class CloudsBed(ABC):
    """A set of clouds that starts, stops, and describes itself as a clouds.yaml."""

    @property
    @abstractmethod
    def clouds(self) -> Sequence[CloudLike]: ...

    @abstractmethod
    async def start(self, progress: bool = False) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def clouds_yaml(self) -> dict[str, Any]:
        return clouds_yaml_document(self.clouds)

    def write_clouds_yaml(self, path: str | Path) -> Path:
        return write_clouds_yaml(self.clouds, path)
