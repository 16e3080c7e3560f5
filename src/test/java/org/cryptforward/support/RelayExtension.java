package org.cryptforward.support;

import com.icegreen.greenmail.util.GreenMail;
import jakarta.mail.internet.MimeMessage;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The GreenMail relay many test classes share, as one JUnit extension: started once for the class
 * on a free port of 127.0.0.1, emptied before each test, stopped after the last.
 *
 * <pre>{@code @RegisterExtension static final RelayExtension relay = new RelayExtension();}</pre>
 */
public final class RelayExtension implements BeforeAllCallback, BeforeEachCallback, AfterAllCallback {
    private Relay relay;

    @Override
    public void beforeAll(ExtensionContext context) {
        relay = new Relay();
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        relay.reset();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (relay != null) {
            relay.close();
            relay = null;
        }
    }

    private Relay relay() {
        if (relay == null) {
            throw new IllegalStateException(
                    "the relay runs only while the test class does (register the extension as a static field)");
        }
        return relay;
    }

    public int port() {
        return relay().port();
    }

    public MimeMessage[] received() {
        return relay().received();
    }

    public void reset() {
        relay().reset();
    }

    public GreenMail greenMail() {
        return relay().greenMail();
    }
}
