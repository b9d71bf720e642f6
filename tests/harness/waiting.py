"""Polling helper for tests that wait on asynchronous effects."""

import asyncio


async def wait_for(predicate, timeout_s: float = 30.0, interval_s: float = 0.2):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)
