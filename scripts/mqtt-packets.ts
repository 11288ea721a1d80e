// Raw MQTT 3.1.1 packets, for the flood tools and tests: raw bytes keep thousands of senders cheap
// and let a packet announce a length it does not carry.

/** An MQTT 3.1.1 packet: type byte, remaining length (`announced`, by default the body's), body. */
export function packet(type: number, body: Buffer, announced = body.length): Buffer {
  const len: number[] = [];
  let n = announced;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([type, ...len]), body]);
}

/** A length-prefixed UTF-8 string. */
export function mqttString(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

/** CONNECT as `id`: MQTT 3.1.1, clean session, keep-alive 60 s, no credentials. */
export function connectPacket(id: string): Buffer {
  return packet(0x10, Buffer.concat([mqttString("MQTT"), Buffer.from([4, 2, 0, 60]), mqttString(id)]));
}
