// CloudFront Function (cloudfront-js-2.0), viewer request: one URL per size, the format chosen by Accept.
// The API hands out /{size}.v/{version}/{path}?formats=jpg,webp,avif: the path every format of that size shares,
// and the extensions that exist, the default first. This picks AVIF, else WebP, where the browser names the type
// itself (image/* and */* do not count: browsers that cannot show AVIF send those too), and the default otherwise;
// it rewrites the URI to that object and drops the query, so the cache key is the chosen object's own path.
// Any other request passes through untouched: a rendition's own URL is its object.
var KNOWN = { avif: true, webp: true, jpg: true, png: true };
var BETTER = ['avif', 'webp'];

function accepted(accept) {
  var out = {};
  var parts = accept.toLowerCase().split(',');
  for (var i = 0; i < parts.length; i++) {
    var params = parts[i].split(';');
    var type = params[0].trim();
    var q = 1;
    for (var j = 1; j < params.length; j++) {
      var kv = params[j].trim().split('=');
      if (kv[0] === 'q' && kv.length === 2) {
        q = parseFloat(kv[1]);
        if (isNaN(q)) q = 0;
      }
    }
    if (type.indexOf('image/') === 0 && q > 0) out[type.slice(6)] = true;
  }
  return out;
}

function handler(event) {
  var request = event.request;
  var given = request.querystring.formats;
  if (!given || !given.value) return request;
  var formats = given.value.split(',').filter(function (f) { return KNOWN[f] === true; });
  if (formats.length === 0) return request;
  var header = request.headers.accept;
  var types = accepted(header && header.value ? header.value : '');
  var choice = formats[0];
  for (var i = 0; i < BETTER.length; i++) {
    if (types[BETTER[i]] && formats.indexOf(BETTER[i]) !== -1) {
      choice = BETTER[i];
      break;
    }
  }
  request.uri = request.uri + '.' + choice;
  request.querystring = {};
  return request;
}
