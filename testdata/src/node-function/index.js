// A Lambda handler (Node.js 20): fetches a URL with axios.
const axios = require("axios");

exports.handler = async (event) => {
  const res = await axios.get(event.url);
  return { statusCode: res.status };
};
