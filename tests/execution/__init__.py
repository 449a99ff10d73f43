"""Unit tests of the execution package: pure domain logic, no Ray and no network."""
