package org.cryptforward.core;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;

/**
 * The few date formats mail needs, written out by hand: the JDK's localized formatters load the
 * locale data of every language at first use, which costs a short-lived process more than
 * everything else it formats. English names, ASCII digits, nothing locale-dependent.
 */
public final class Dates {
    private static final String[] DAYS = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    private static final String[] MONTHS = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
    };

    private Dates() {}

    /** RFC 5322: {@code Sat, 21 Nov 2026 15:33:39 +0100}. */
    public static String rfc5322(ZonedDateTime t) {
        StringBuilder sb = new StringBuilder(31);
        sb.append(DAYS[t.getDayOfWeek().ordinal()])
                .append(", ")
                .append(t.getDayOfMonth())
                .append(' ')
                .append(MONTHS[t.getMonthValue() - 1])
                .append(' ')
                .append(t.getYear())
                .append(' ');
        time(sb, t).append(' ');
        int offset = t.getOffset().getTotalSeconds() / 60;
        sb.append(offset < 0 ? '-' : '+');
        offset = Math.abs(offset);
        two(sb, offset / 60);
        two(sb, offset % 60);
        return sb.toString();
    }

    /** asctime(3), as in an mbox {@code From } line: {@code Mon Mar  3 06:25:04 2025}. */
    public static String asctime(ZonedDateTime t) {
        StringBuilder sb = new StringBuilder(24);
        sb.append(DAYS[t.getDayOfWeek().ordinal()]).append(' ');
        monthDay(sb, t).append(' ');
        return time(sb, t).append(' ').append(t.getYear()).toString();
    }

    /** The syslog time stamp: {@code Mar  3 06:25:04}. */
    public static String syslog(ZonedDateTime t) {
        StringBuilder sb = new StringBuilder(15);
        monthDay(sb, t).append(' ');
        return time(sb, t).toString();
    }

    /** {@code 2026-11-21T15:33:39+01:00}. */
    public static String iso(ZonedDateTime t) {
        StringBuilder sb = new StringBuilder(25);
        sb.append(t.getYear()).append('-');
        two(sb, t.getMonthValue()).append('-');
        two(sb, t.getDayOfMonth()).append('T');
        time(sb, t);
        ZoneOffset o = t.getOffset();
        return sb.append(o.getTotalSeconds() == 0 ? "Z" : o.getId()).toString();
    }

    /** A day in UTC: {@code 2026-11-21}. */
    public static String day(Instant instant) {
        ZonedDateTime t = instant.atZone(ZoneOffset.UTC);
        StringBuilder sb = new StringBuilder(10).append(t.getYear()).append('-');
        two(sb, t.getMonthValue()).append('-');
        return two(sb, t.getDayOfMonth()).toString();
    }

    private static StringBuilder monthDay(StringBuilder sb, ZonedDateTime t) {
        sb.append(MONTHS[t.getMonthValue() - 1]).append(' ');
        if (t.getDayOfMonth() < 10) {
            sb.append(' ');
        }
        return sb.append(t.getDayOfMonth());
    }

    private static StringBuilder time(StringBuilder sb, ZonedDateTime t) {
        two(sb, t.getHour()).append(':');
        two(sb, t.getMinute()).append(':');
        return two(sb, t.getSecond());
    }

    private static StringBuilder two(StringBuilder sb, int v) {
        if (v < 10) {
            sb.append('0');
        }
        return sb.append(v);
    }
}
