// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
package dev.cairn.interop;

/**
 * One event as EnvelopeDeserializer decodes it from cairn's envelope value: the store's own
 * coordinates, its W3C traceparent (null without one) and the payload mapped to its Java record
 * (`event`).
 */
public record Envelope(String stream, long version, long position, String type, String eventId,
    String chainHash, String contentType, String traceparent, Object event) {}
