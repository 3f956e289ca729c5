"""Listening ports picked in turn: in-use ports skipped, the range wrapped, errors raised."""

from __future__ import annotations

import errno
import socket

import aiohttp
import pytest

from openstackoid.testbed import Faults, Testbed
from openstackoid.testbed.ports import PortPicker, PortsExhausted, ephemeral_range, listen


def _port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def test_a_port_in_use_is_skipped() -> None:
    taken = listen("127.0.0.1", 0)
    try:
        port = _port(taken)
        picker = PortPicker("127.0.0.1", span=(port, port + 50), start=port)
        with picker.listen() as sock:
            assert port < _port(sock) <= port + 50
    finally:
        taken.close()


def test_the_range_wraps_around_and_ports_differ() -> None:
    low, high = ephemeral_range()
    picker = PortPicker("127.0.0.1", span=(low, high), start=high)
    sockets = [picker.listen() for _ in range(3)]
    try:
        ports = [_port(s) for s in sockets]
        assert len(set(ports)) == 3
        assert all(low <= p <= high for p in ports)
        assert min(ports) < high - 3  # past `high`, the picker went on from `low`
    finally:
        for sock in sockets:
            sock.close()


def test_a_range_all_taken_is_an_error() -> None:
    taken = listen("127.0.0.1", 0)
    try:
        port = _port(taken)
        with pytest.raises(PortsExhausted):
            PortPicker("127.0.0.1", span=(port, port)).listen()
    finally:
        taken.close()


def test_an_address_that_is_not_ours_fails_at_once() -> None:
    picker = PortPicker("192.0.2.1", span=(40000, 40100))  # TEST-NET-1: not on this host
    with pytest.raises(OSError) as caught:
        picker.listen()
    assert caught.value.errno == errno.EADDRNOTAVAIL
    assert not isinstance(caught.value, PortsExhausted)


async def test_an_outage_refuses_connections_but_keeps_the_port(testbed: Testbed) -> None:
    """A flapping cloud used to close its socket and bind again: an outgoing connection
    could take the freed port meanwhile (EADDRINUSE in the soak). Now the port stays bound
    through every outage, no one else can bind it, and it serves again each time."""
    cloud = testbed.cloud("cloud-2")
    url = cloud.endpoints["identity"]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(20):
            await testbed.set_faults("cloud-2", Faults(outage=True))
            with pytest.raises(aiohttp.ClientConnectorError) as refused:
                async with session.get(url):
                    pass
            assert isinstance(refused.value.os_error, ConnectionRefusedError)
            intruder = socket.socket()
            with pytest.raises(OSError) as taken:
                intruder.bind((cloud.host, cloud.port))  # as an outgoing connection would
            intruder.close()
            assert taken.value.errno == errno.EADDRINUSE
            await testbed.set_faults("cloud-2", Faults())
            async with session.get(url) as resp:
                assert resp.status == 200
