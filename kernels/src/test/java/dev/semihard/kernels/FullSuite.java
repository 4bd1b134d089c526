package dev.semihard.kernels;

import org.junit.jupiter.api.Tag;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a test (class or method) of the full test tier only: tag {@value #TAG}. Plain
 * {@code mvn -B verify} leaves these out (surefire's excludedGroups, set in the root pom), so they
 * neither run nor count; {@code mvn -B verify -Dsemihard.fullSuite=true} (what {@code .ci/run} runs)
 * runs them with everything else. Used for the slow cases of the CUDA kernel emulator whose kernel
 * families the quick tier already reaches through other tests.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Tag(FullSuite.TAG)
public @interface FullSuite {
    /** The JUnit tag; the root pom's semihard.test.excludedGroups names it. */
    String TAG = "full-suite";
}
