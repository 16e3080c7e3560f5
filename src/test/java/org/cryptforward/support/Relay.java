package org.cryptforward.support;

import com.icegreen.greenmail.util.GreenMail;
import com.icegreen.greenmail.util.ServerSetup;
import jakarta.mail.internet.MimeMessage;

/** GreenMail as the relay, on a free port of 127.0.0.1. */
public final class Relay implements AutoCloseable {
    private final GreenMail greenMail;

    public Relay() {
        greenMail = new GreenMail(new ServerSetup(0, "127.0.0.1", ServerSetup.PROTOCOL_SMTP).dynamicPort());
        greenMail.start();
    }

    public int port() {
        return greenMail.getSmtp().getPort();
    }

    public MimeMessage[] received() {
        return greenMail.getReceivedMessages();
    }

    public void reset() {
        try {
            greenMail.purgeEmailFromAllMailboxes();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public GreenMail greenMail() {
        return greenMail;
    }

    @Override
    public void close() {
        greenMail.stop();
    }
}
