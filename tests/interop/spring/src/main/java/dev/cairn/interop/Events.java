// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
package dev.cairn.interop;

import java.math.BigDecimal;

/** The Java types the seed's consumers map cairn's event types to (spring.json.type.mapping). */
public final class Events {
  private Events() {}

  public record CustomerRegistered(String customerId, String email, String tier) {}

  public record OrderPlaced(String orderId, String customerId, String sku, int qty, BigDecimal total) {}

  public record OrderConfirmed(String orderId) {}

  public record OrderShipped(String orderId) {}

  public record StockReserved(String sku, String orderId, int qty) {}

  public record PaymentAuthorized(String orderId, BigDecimal amount, String currency) {}
}
