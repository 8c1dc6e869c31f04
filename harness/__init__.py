"""Tools that run the portal's real processes beside stand-ins: fault runs, benchmarks and the tests that use them."""
