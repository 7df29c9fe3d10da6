package main

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// A message, as producers write it and consumers check it (little-endian):
//
//	0   producer id      uint32
//	4   length           uint32  the whole message, header included
//	8   sequence number  uint64  per producer, from 0
//	16  checksum         uint32  CRC-32C of bytes [0, 16) and [20, length)
//	20  round            uint32
//	24  body             bytes from a PRNG seeded by id and sequence number
//
// The checksum covers the header too, so a message stitched from two (torn)
// or with a damaged header fails it.
const msgHeader = 24

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// msgID names a message: its producer and sequence number.
type msgID struct {
	id  uint32
	seq uint64
}

func (m msgID) String() string { return fmt.Sprintf("message %d of producer %d", m.seq, m.id) }

// fillMessage writes message m of round, n bytes long (n >= msgHeader), into
// b[:n].
func fillMessage(b []byte, round uint32, m msgID, n int) {
	b = b[:n]
	binary.LittleEndian.PutUint32(b[0:], m.id)
	binary.LittleEndian.PutUint32(b[4:], uint32(n))
	binary.LittleEndian.PutUint64(b[8:], m.seq)
	binary.LittleEndian.PutUint32(b[20:], round)
	x := uint64(m.id)<<40 ^ m.seq*0x9e3779b97f4a7c15
	body := b[msgHeader:]
	i := 0
	for ; i+8 <= len(body); i += 8 {
		x = splitmix(x)
		binary.LittleEndian.PutUint64(body[i:], x)
	}
	for x = splitmix(x); i < len(body); i++ {
		body[i] = byte(x)
		x >>= 8
	}
	binary.LittleEndian.PutUint32(b[16:], checksum(b))
}

// splitmix is one step of the SplitMix64 generator.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	z := x
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// checksum is the CRC of msg without its checksum field.
func checksum(msg []byte) uint32 {
	return crc32.Update(crc32.Checksum(msg[:16], castagnoli), castagnoli, msg[20:])
}

// checkMessage returns msg's name, and an error unless msg is whole: as long
// as its header says, of this round, with a matching checksum. The name is
// only meaningful when the error is nil.
func checkMessage(msg []byte, round uint32) (msgID, error) {
	if len(msg) < msgHeader {
		return msgID{}, fmt.Errorf("%d-byte message, shorter than the header", len(msg))
	}
	m := msgID{binary.LittleEndian.Uint32(msg[0:]), binary.LittleEndian.Uint64(msg[8:])}
	if n := binary.LittleEndian.Uint32(msg[4:]); n != uint32(len(msg)) {
		return m, fmt.Errorf("%v? %d bytes, its header says %d", m, len(msg), n)
	}
	if sum, want := binary.LittleEndian.Uint32(msg[16:]), checksum(msg); sum != want {
		return m, fmt.Errorf("%v? checksum %#08x, its bytes give %#08x", m, sum, want)
	}
	if r := binary.LittleEndian.Uint32(msg[20:]); r != round {
		return m, fmt.Errorf("%v of round %d in round %d", m, r, round)
	}
	return m, nil
}

// messageIn returns the whole message at the start of b, if there is one: the
// receive buffer of a consumer that died may hold the message it was
// receiving, or part of it.
func messageIn(b []byte, round uint32) (msgID, bool) {
	if len(b) < msgHeader {
		return msgID{}, false
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if n < msgHeader || uint64(n) > uint64(len(b)) {
		return msgID{}, false
	}
	m, err := checkMessage(b[:n], round)
	return m, err == nil
}
