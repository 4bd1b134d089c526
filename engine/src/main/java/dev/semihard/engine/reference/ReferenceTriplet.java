package dev.semihard.engine.reference;

import dev.semihard.engine.backend.TripletOptions;

/**
 * The reference fused triplet-loss kernel (distances + mining + loss + gradient), exactly the
 * semantics of shared/BENCHMARKS.md "Loss semantics".
 *
 * <p><b>Stub</b>: helper H3 owns this file and replaces the body; until then the reference
 * backend reports the kernel as unsupported.
 */
public final class ReferenceTriplet {
    private ReferenceTriplet() {}

    /**
     * @param b      rows of e
     * @param d      embedding dimension
     * @param labels b labels
     * @param o      strategy, distance, margin, soft margin, anchor rows
     * @param e      [b, d] embeddings (read)
     * @param dE     [b, d] overwritten with dLoss/dE
     * @param stats  {@link dev.semihard.engine.backend.TripletStats#SIZE} slots, overwritten
     */
    public static void tripletLoss(int b, int d, int[] labels, TripletOptions o, double[] e, double[] dE, double[] stats) {
        throw new UnsupportedOperationException("ReferenceTriplet.tripletLoss is not implemented yet (stub until the triplet-loss work lands)");
    }
}
