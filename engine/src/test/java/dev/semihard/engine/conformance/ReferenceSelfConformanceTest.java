package dev.semihard.engine.conformance;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.reference.ReferenceBackend;

/**
 * Runs the whole conformance suite with a second, independent reference backend as the candidate
 * (here with one thread, while the reference uses every processor). Every check must pass: this
 * proves the harness runs each kernel end to end, that the checks' inputs are reproducible, and
 * that the reference backend is deterministic across thread counts. {@link ConformanceHarnessTest}
 * proves the opposite direction: that a wrong candidate fails.
 */
class ReferenceSelfConformanceTest extends BackendConformanceTest {
    @Override
    protected Backend createCandidate() { return new ReferenceBackend(1); }

    @Override
    protected String candidateName() { return "reference"; }
}
