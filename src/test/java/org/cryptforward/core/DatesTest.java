package org.cryptforward.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/** The hand-written formats agree with the JDK's formatters on a spread of instants and zones. */
class DatesTest {
    @Test
    void agreesWithTheJdkFormatters() {
        DateTimeFormatter rfc = DateTimeFormatter.ofPattern("EEE, d MMM yyyy HH:mm:ss Z", Locale.ENGLISH);
        DateTimeFormatter asc = DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss yyyy", Locale.ENGLISH);
        DateTimeFormatter sys = DateTimeFormatter.ofPattern("MMM ppd HH:mm:ss", Locale.ENGLISH);
        DateTimeFormatter iso = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ssXXX", Locale.ROOT);
        for (String zone :
                new String[] {"UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata", "Pacific/Chatham"}) {
            for (long s = 0; s < 4_000_000_000L; s += 86_400L * 37 + 3_607) {
                ZonedDateTime t = Instant.ofEpochSecond(s).atZone(ZoneId.of(zone));
                assertEquals(rfc.format(t), Dates.rfc5322(t), t.toString());
                assertEquals(asc.format(t), Dates.asctime(t), t.toString());
                assertEquals(sys.format(t), Dates.syslog(t), t.toString());
                assertEquals(iso.format(t), Dates.iso(t), t.toString());
                assertEquals(
                        DateTimeFormatter.ISO_LOCAL_DATE.format(t.withZoneSameInstant(ZoneOffset.UTC)),
                        Dates.day(t.toInstant()));
            }
        }
    }
}
