package dev.semihard.engine.backend;

/**
 * Layout of the small float buffer the fused triplet-loss kernel fills (length {@link #SIZE}).
 * Every backend writes exactly these slots; {@link #of(float[])} reads them on the host.
 *
 * <ul>
 *   <li>{@code LOSS}: the loss value.</li>
 *   <li>{@code UNITS}: what the loss averages over before the activity rule: positive pairs
 *       (semihard), valid anchors (batch-hard), valid triplets (batch-all).</li>
 *   <li>{@code POSITIVE_PAIRS}: ordered anchor-positive pairs (a != p, same label, both anchor rows).</li>
 *   <li>{@code SEMIHARD_FOUND}: (semihard) pairs that found a negative with d(a,n) > d(a,p).</li>
 *   <li>{@code FALLBACKS}: (semihard) pairs that fell back to the farthest negative.</li>
 *   <li>{@code ACTIVE}: units (triplets for batch-all) whose hinge term is > 0.</li>
 *   <li>{@code ACTIVE_FRACTION}: ACTIVE / UNITS (0 when UNITS is 0).</li>
 *   <li>{@code MEAN_DAP}, {@code MEAN_DAN}: mean d(a,p) and d(a,n) over the used triplets
 *       (semihard: n*; batch-hard: hardest; batch-all: every valid triplet).</li>
 *   <li>{@code MEAN_NORM}: mean ||e_i|| over all B rows.</li>
 *   <li>{@code SPREAD}: sqrt(mean_i ||e_i - mean(e)||^2), near 0 when embeddings collapse.</li>
 *   <li>{@code DEGENERATE}: 1 when the batch had no usable unit (loss 0, zero gradient), else 0.</li>
 * </ul>
 */
public record TripletStats(float loss, float units, float positivePairs, float semihardFound, float fallbacks,
                           float active, float activeFraction, float meanDap, float meanDan, float meanNorm,
                           float spread, boolean degenerate) {
    public static final int LOSS = 0, UNITS = 1, POSITIVE_PAIRS = 2, SEMIHARD_FOUND = 3, FALLBACKS = 4,
            ACTIVE = 5, ACTIVE_FRACTION = 6, MEAN_DAP = 7, MEAN_DAN = 8, MEAN_NORM = 9, SPREAD = 10,
            DEGENERATE = 11;
    /** Length of the stats buffer. */
    public static final int SIZE = 16;

    public static TripletStats of(float[] s) {
        return new TripletStats(s[LOSS], s[UNITS], s[POSITIVE_PAIRS], s[SEMIHARD_FOUND], s[FALLBACKS], s[ACTIVE],
                s[ACTIVE_FRACTION], s[MEAN_DAP], s[MEAN_DAN], s[MEAN_NORM], s[SPREAD], s[DEGENERATE] != 0f);
    }
}
