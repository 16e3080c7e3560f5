package org.cryptforward.service;

import java.security.SecureRandom;
import java.time.Clock;
import org.cryptforward.config.Config;
import org.cryptforward.core.Deadline;
import org.cryptforward.pipeline.Delivery;

/**
 * The side effects of one delivery — local copy, journal, relay — as the command line wires them
 * for {@code deliver} in-process; the service is given the same wiring, so both run the same code.
 */
@FunctionalInterface
public interface DeliveryWiring {
    Delivery.Ports ports(Config config, Clock clock, SecureRandom random, Deadline deadline);
}
