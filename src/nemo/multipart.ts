// multipart/form-data written by hand as a byte generator, so an upload streams from the
// caller's Readable to the upstream socket without ever being held in memory. undici's
// FormData cannot take a Node stream without buffering it into a Blob first.
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'

export interface UploadSource {
  filename: string
  contentType: string
  stream: Readable | AsyncIterable<Uint8Array | string>
}

export interface Multipart {
  contentType: string
  body: AsyncGenerator<Buffer>
}

/** Every file as one repeated `files` part (contract §3.5). */
export function multipartFiles (files: Iterable<UploadSource> | AsyncIterable<UploadSource>, field = 'files'): Multipart {
  const boundary = `----nemo-gateway-${randomBytes(12).toString('hex')}`
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: frame(files, field, boundary) }
}

async function * frame (files: Iterable<UploadSource> | AsyncIterable<UploadSource>, field: string, boundary: string): AsyncGenerator<Buffer> {
  for await (const file of files) {
    yield Buffer.from(
      `--${boundary}\r\n` +
      `Content-Disposition: form-data; name="${quote(field)}"; filename="${quote(file.filename)}"\r\n` +
      `Content-Type: ${file.contentType.replace(/[\r\n]/g, '') || 'application/octet-stream'}\r\n\r\n`
    )
    for await (const chunk of file.stream) yield typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    yield Buffer.from('\r\n')
  }
  yield Buffer.from(`--${boundary}--\r\n`)
}

// The HTML form encoding (WHATWG "multipart/form-data encoding algorithm"): escape the
// three characters that would break the header; UTF-8 names pass as raw bytes.
function quote (name: string): string {
  return name.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}
